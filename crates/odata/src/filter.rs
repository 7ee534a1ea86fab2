//! The typed `$filter` AST and its canonical text.

use crate::schema::{ACCOUNT_STATUS_TYPE, ScalarType};

/// A parsed, type-checked `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub(crate) expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Const(bool),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        op: CmpOp,
        left: Operand,
        right: Operand,
    },
    /// `operand in (items)`; never on a dynamic property (that becomes an `or` of `eq`s).
    In {
        operand: Operand,
        items: Vec<Literal>,
    },
    StrFn {
        func: StrFn,
        left: Operand,
        right: Operand,
    },
    Lambda {
        coll: Coll,
        all: bool,
        var: String,
        id: usize,
        /// `None` only for `any()`.
        body: Option<Box<Expr>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }

    pub(crate) fn from_keyword(s: &str) -> Option<CmpOp> {
        [CmpOp::Eq, CmpOp::Ne, CmpOp::Gt, CmpOp::Ge, CmpOp::Lt, CmpOp::Le]
            .into_iter()
            .find(|op| op.keyword().eq_ignore_ascii_case(s))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrFn {
    StartsWith,
    EndsWith,
    Contains,
}

impl StrFn {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StrFn::StartsWith => "startswith",
            StrFn::EndsWith => "endswith",
            StrFn::Contains => "contains",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coll {
    Tags,
    Accounts,
}

impl Coll {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Coll::Tags => "tags",
            Coll::Accounts => "accounts",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Str(String),
    Int(i64),
    Real(f64),
    Bool(bool),
    /// Canonical 28-character UTC text.
    DateTime(String),
    /// An accountStatus member name (validated).
    Enum(String),
}

/// How a dynamic property's JSON value is read: as the JSON type the other operand has.
/// A stored value of another JSON type reads as null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DynView {
    /// Only null-tested: null when absent or JSON null.
    Any,
    Text,
    Number,
    Bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Prop {
    Column { name: &'static str, column: &'static str, ty: ScalarType, not_null: bool },
    Vendor(&'static str),
    Dynamic { name: String, view: DynView },
    TagVar { id: usize, var: String },
    AccountField { id: usize, var: String, field: &'static str, ty: ScalarType },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Lit(Literal),
    Prop(Prop),
    Lower(Box<Operand>),
    Upper(Box<Operand>),
    Count(Coll),
}

/// Static type of an operand, for checking comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Null,
    Str,
    Num,
    Bool,
    DateTime,
    Enum,
    Dyn,
}

impl Ty {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Ty::Null => "null",
            Ty::Str => "Edm.String",
            Ty::Num => "a number",
            Ty::Bool => "Edm.Boolean",
            Ty::DateTime => "Edm.DateTimeOffset",
            Ty::Enum => ACCOUNT_STATUS_TYPE,
            Ty::Dyn => "a dynamic property",
        }
    }
}

impl Operand {
    pub(crate) fn ty(&self) -> Ty {
        match self {
            Operand::Lit(l) => match l {
                Literal::Null => Ty::Null,
                Literal::Str(_) => Ty::Str,
                Literal::Int(_) | Literal::Real(_) => Ty::Num,
                Literal::Bool(_) => Ty::Bool,
                Literal::DateTime(_) => Ty::DateTime,
                Literal::Enum(_) => Ty::Enum,
            },
            Operand::Prop(p) => match p {
                Prop::Column { ty, .. } | Prop::AccountField { ty, .. } => scalar_ty(*ty),
                Prop::Vendor(_) | Prop::TagVar { .. } => Ty::Str,
                Prop::Dynamic { view, .. } => match view {
                    DynView::Any => Ty::Dyn,
                    DynView::Text => Ty::Str,
                    DynView::Number => Ty::Num,
                    DynView::Bool => Ty::Bool,
                },
            },
            Operand::Lower(_) | Operand::Upper(_) => Ty::Str,
            Operand::Count(_) => Ty::Num,
        }
    }

    /// Can this operand never be null?
    pub(crate) fn not_null(&self) -> bool {
        match self {
            Operand::Lit(l) => *l != Literal::Null,
            Operand::Prop(Prop::Column { not_null, .. }) => *not_null,
            Operand::Prop(Prop::TagVar { .. }) => true,
            Operand::Prop(_) => false,
            Operand::Lower(x) | Operand::Upper(x) => x.not_null(),
            Operand::Count(_) => true,
        }
    }
}

pub(crate) fn scalar_ty(t: ScalarType) -> Ty {
    match t {
        ScalarType::String => Ty::Str,
        ScalarType::DateTimeOffset => Ty::DateTime,
        ScalarType::AccountStatus => Ty::Enum,
    }
}

impl Filter {
    /// Stable text of the filter: canonical property names, lower-case keywords, normalised
    /// literals, explicit parentheses. Equivalent spellings that differ only in case, spacing,
    /// redundant parentheses or literal form give the same text. It parses back to an equal
    /// filter.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        write_expr(&self.expr, &mut out, false);
        out
    }
}

fn write_expr(e: &Expr, out: &mut String, nested: bool) {
    match e {
        Expr::Const(b) => out.push_str(if *b { "true" } else { "false" }),
        Expr::And(items) | Expr::Or(items) => {
            let sep = if matches!(e, Expr::And(_)) { " and " } else { " or " };
            if nested {
                out.push('(');
            }
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                write_expr(item, out, true);
            }
            if nested {
                out.push(')');
            }
        }
        Expr::Not(inner) => {
            out.push_str("not ");
            match **inner {
                Expr::Cmp { .. } | Expr::In { .. } => {
                    out.push('(');
                    write_expr(inner, out, false);
                    out.push(')');
                }
                _ => write_expr(inner, out, true),
            }
        }
        Expr::Cmp { op, left, right } => {
            write_operand(left, out);
            out.push(' ');
            out.push_str(op.keyword());
            out.push(' ');
            write_operand(right, out);
        }
        Expr::In { operand, items } => {
            write_operand(operand, out);
            out.push_str(" in (");
            for (i, l) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(l, out);
            }
            out.push(')');
        }
        Expr::StrFn { func, left, right } => {
            out.push_str(func.name());
            out.push('(');
            write_operand(left, out);
            out.push_str(", ");
            write_operand(right, out);
            out.push(')');
        }
        Expr::Lambda { coll, all, var, body, .. } => {
            out.push_str(coll.name());
            out.push_str(if *all { "/all(" } else { "/any(" });
            if let Some(body) = body {
                out.push_str(var);
                out.push_str(": ");
                write_expr(body, out, false);
            }
            out.push(')');
        }
    }
}

fn write_operand(o: &Operand, out: &mut String) {
    match o {
        Operand::Lit(l) => write_literal(l, out),
        Operand::Prop(p) => match p {
            Prop::Column { name, .. } => out.push_str(name),
            Prop::Vendor(f) => {
                out.push_str("vendorInformation/");
                out.push_str(f);
            }
            Prop::Dynamic { name, .. } => out.push_str(name),
            Prop::TagVar { var, .. } => out.push_str(var),
            Prop::AccountField { var, field, .. } => {
                out.push_str(var);
                out.push('/');
                out.push_str(field);
            }
        },
        Operand::Lower(x) | Operand::Upper(x) => {
            out.push_str(if matches!(o, Operand::Lower(_)) { "tolower(" } else { "toupper(" });
            write_operand(x, out);
            out.push(')');
        }
        Operand::Count(c) => {
            out.push_str(c.name());
            out.push_str("/$count");
        }
    }
}

fn write_literal(l: &Literal, out: &mut String) {
    match l {
        Literal::Null => out.push_str("null"),
        Literal::Str(s) => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Literal::Int(i) => out.push_str(&i.to_string()),
        Literal::Real(r) => out.push_str(&format!("{r:?}")),
        Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Literal::DateTime(d) => out.push_str(d),
        Literal::Enum(m) => {
            out.push_str(ACCOUNT_STATUS_TYPE);
            out.push('\'');
            out.push_str(m);
            out.push('\'');
        }
    }
}
