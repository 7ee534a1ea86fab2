//! Typing of comparisons: both sides of `left op right` must be comparable, dynamic properties
//! take the view their other side asks for, and string literals become enum members where an
//! enum is expected.

use super::Node;
use crate::QueryError;
use crate::filter::{CmpOp, DynView, Expr, Literal, Operand, Prop, Ty};
use crate::schema::Schema;

pub(super) fn enum_literal(schema: &Schema, ty: &str, member: String, pos: usize) -> Result<Literal, QueryError> {
    let Some(e) = schema.enum_type(ty) else {
        return Err(QueryError::at(format!("unknown enum type '{ty}'"), pos));
    };
    if !e.has_member(&member) {
        return Err(QueryError::at(format!("'{member}' is not a member of {}", e.name), pos));
    }
    Ok(Literal::Enum(e, member))
}

pub(super) fn with_view(o: Operand, view: DynView) -> Operand {
    match o {
        Operand::Prop(Prop::Dynamic { name, .. }) => Operand::Prop(Prop::Dynamic { name, view }),
        other => other,
    }
}

/// Builds `left op right`, turning `<bool expr> eq true` and friends into plain boolean logic.
pub(super) fn make_cmp(op: CmpOp, left: Node, right: Node, pos: usize) -> Result<Expr, QueryError> {
    let bool_with = |e: Expr, other: Node| -> Result<Expr, QueryError> {
        match (op, other) {
            (CmpOp::Eq | CmpOp::Ne, Node::Val(Operand::Lit(Literal::Bool(b)), _)) => {
                Ok(if b == (op == CmpOp::Eq) { e } else { Expr::Not(Box::new(e)) })
            }
            _ => Err(QueryError::at(
                format!(
                    "a boolean expression can only be compared with eq/ne true or false, not with '{}'",
                    op.keyword()
                ),
                pos,
            )),
        }
    };
    match (left, right) {
        (Node::Bool(e, _), other) | (other @ Node::Val(..), Node::Bool(e, _)) => bool_with(e, other),
        (Node::Val(l, _), Node::Val(r, _)) => {
            let (left, right) = unify(op, l, r, pos)?;
            Ok(Expr::Cmp { op, left, right })
        }
    }
}

/// Checks that `l op r` is well typed, resolving dynamic views and string-to-enum literals.
pub(super) fn unify(op: CmpOp, l: Operand, r: Operand, pos: usize) -> Result<(Operand, Operand), QueryError> {
    let err = |m: String| Err(QueryError::at(m, pos));
    let (lt, rt) = (l.ty(), r.ty());
    let ordering = !matches!(op, CmpOp::Eq | CmpOp::Ne);
    let (l, r, ty) = match (lt, rt) {
        (Ty::Null, _) | (_, Ty::Null) => {
            let ty = if lt == Ty::Null { rt } else { lt };
            (l, r, ty)
        }
        (Ty::Dyn, Ty::Dyn) => return err("cannot compare two dynamic properties".into()),
        (Ty::Dyn, t) | (t, Ty::Dyn) => {
            let view = match t {
                Ty::Str => DynView::Text,
                Ty::Num => DynView::Number,
                Ty::Bool => DynView::Bool,
                other => {
                    return err(format!(
                        "a dynamic property can be compared with a string, number, boolean or null, not with {}",
                        other.name()
                    ));
                }
            };
            (with_view(l, view), with_view(r, view), t)
        }
        (Ty::Enum(e), Ty::Str) | (Ty::Str, Ty::Enum(e)) => {
            let to_enum = |o: Operand| -> Result<Operand, QueryError> {
                match o {
                    Operand::Lit(Literal::Str(s)) => {
                        if e.has_member(&s) {
                            Ok(Operand::Lit(Literal::Enum(e, s)))
                        } else {
                            Err(QueryError::at(format!("'{s}' is not a member of {}", e.name), pos))
                        }
                    }
                    _ => Err(QueryError::at(format!("cannot compare {} with Edm.String", e.name), pos)),
                }
            };
            if lt == Ty::Str { (to_enum(l)?, r, Ty::Enum(e)) } else { (l, to_enum(r)?, Ty::Enum(e)) }
        }
        (a, b) if a == b => (l, r, a),
        (Ty::DateTime, Ty::Str) | (Ty::Str, Ty::DateTime) => {
            return err(
                "cannot compare Edm.DateTimeOffset with Edm.String; write DateTimeOffset literals unquoted, e.g. 2024-01-31T00:00:00Z"
                    .into(),
            );
        }
        (a, b) => return err(format!("cannot compare {} with {}", a.name(), b.name())),
    };
    if ordering && matches!(ty, Ty::Bool | Ty::Enum(_)) {
        return err(format!("'{}' cannot compare values of type {}; use eq, ne or in", op.keyword(), ty.name()));
    }
    Ok((l, r))
}
