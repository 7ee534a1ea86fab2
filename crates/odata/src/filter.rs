//! The typed `$filter` AST and its canonical text.

use crate::schema::{ComplexType, EnumType, Type};

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

/// A collection-valued declared property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coll {
    /// `Collection(Edm.String)`; lambdas and `$count` see its string elements only.
    Strings(&'static str),
    /// A collection of a complex type.
    Complex(&'static str, &'static ComplexType),
}

impl Coll {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Coll::Strings(name) | Coll::Complex(name, _) => name,
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
    /// A member name of the enumeration type (validated).
    Enum(&'static EnumType, String),
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
    /// A declared scalar.
    Declared {
        name: &'static str,
        ty: Ty,
        not_null: bool,
    },
    /// `property/member` of a complex property.
    Member {
        property: &'static str,
        member: &'static str,
        ty: Ty,
    },
    Dynamic {
        name: String,
        view: DynView,
    },
    /// The variable of a lambda over a string collection: one string element.
    Element {
        id: usize,
        var: String,
        property: &'static str,
    },
    /// `var/member` in a lambda over a complex collection.
    ElementMember {
        id: usize,
        var: String,
        member: &'static str,
        ty: Ty,
    },
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
    Enum(&'static EnumType),
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
            Ty::Enum(e) => e.name,
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
                Literal::Enum(e, _) => Ty::Enum(e),
            },
            Operand::Prop(p) => match p {
                Prop::Declared { ty, .. } | Prop::Member { ty, .. } | Prop::ElementMember { ty, .. } => *ty,
                Prop::Element { .. } => Ty::Str,
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
            Operand::Prop(Prop::Declared { not_null, .. }) => *not_null,
            Operand::Prop(Prop::Element { .. }) => true,
            Operand::Prop(_) => false,
            Operand::Lower(x) | Operand::Upper(x) => x.not_null(),
            Operand::Count(_) => true,
        }
    }
}

/// The type of a scalar as an operand; `None` for complex and collection types.
pub(crate) fn scalar_ty(t: Type) -> Option<Ty> {
    match t {
        Type::String => Some(Ty::Str),
        Type::DateTimeOffset => Some(Ty::DateTime),
        Type::Enum(e) => Some(Ty::Enum(e)),
        Type::Complex(_) | Type::Collection(_) => None,
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
            // A comparison is parenthesised: `not a eq b` would read as `(not a) eq b`.
            let comparison = matches!(**inner, Expr::Cmp { .. } | Expr::In { .. });
            if comparison {
                out.push('(');
            }
            write_expr(inner, out, !comparison);
            if comparison {
                out.push(')');
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
            let items: Vec<String> = items.iter().map(literal_text).collect();
            out.push_str(&format!(" in ({})", items.join(", ")));
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
            Prop::Declared { name, .. } => out.push_str(name),
            Prop::Member { property, member, .. } => {
                out.push_str(property);
                out.push('/');
                out.push_str(member);
            }
            Prop::Dynamic { name, .. } => out.push_str(name),
            Prop::Element { var, .. } => out.push_str(var),
            Prop::ElementMember { var, member, .. } => {
                out.push_str(var);
                out.push('/');
                out.push_str(member);
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

fn literal_text(l: &Literal) -> String {
    let mut out = String::new();
    write_literal(l, &mut out);
    out
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
        Literal::Enum(e, m) => {
            out.push_str(e.name);
            out.push('\'');
            out.push_str(m);
            out.push('\'');
        }
    }
}
