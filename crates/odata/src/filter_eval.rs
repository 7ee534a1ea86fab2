//! In-memory `$filter` evaluation over canonical stored documents: the reference semantics the
//! SQL must reproduce. Two-valued: a comparison involving null is false, except `eq`/`ne`, where
//! null equals only null.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use crate::filter::{CmpOp, Coll, DynView, Expr, Filter, Literal, Operand, Prop, StrFn};

impl Filter {
    /// Does the stored document `doc` satisfy the filter?
    pub fn matches(&self, doc: &Value) -> bool {
        let mut env = Vec::new();
        eval(&self.expr, doc, &mut env)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum V<'a> {
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    Real(f64),
    Bool(bool),
    /// A non-null value of a type only ever null-tested.
    Present,
}

type Env<'a> = Vec<(usize, &'a Value)>;

fn eval<'a>(e: &'a Expr, doc: &'a Value, env: &mut Env<'a>) -> bool {
    match e {
        Expr::Const(v) => *v,
        Expr::And(items) => items.iter().all(|i| eval(i, doc, env)),
        Expr::Or(items) => items.iter().any(|i| eval(i, doc, env)),
        Expr::Not(inner) => !eval(inner, doc, env),
        Expr::Cmp { op, left, right } => {
            let (l, r) = (value(left, doc, env), value(right, doc, env));
            match op {
                CmpOp::Eq => equal(&l, &r),
                CmpOp::Ne => !equal(&l, &r),
                _ => match order(&l, &r) {
                    Some(o) => match op {
                        CmpOp::Gt => o == Ordering::Greater,
                        CmpOp::Ge => o != Ordering::Less,
                        CmpOp::Lt => o == Ordering::Less,
                        _ => o != Ordering::Greater,
                    },
                    None => false,
                },
            }
        }
        Expr::In { operand, items } => {
            let x = value(operand, doc, env);
            items.iter().any(|l| equal(&x, &literal(l)))
        }
        Expr::StrFn { func, left, right } => match (value(left, doc, env), value(right, doc, env)) {
            (V::Str(l), V::Str(r)) => match func {
                StrFn::StartsWith => l.starts_with(&*r),
                StrFn::EndsWith => l.ends_with(&*r),
                StrFn::Contains => l.contains(&*r),
            },
            _ => false,
        },
        Expr::Lambda { coll, all, id, body, .. } => {
            let elements: Vec<&'a Value> = match (coll, doc.get(coll.name())) {
                (Coll::Strings(_), Some(Value::Array(a))) => a.iter().filter(|v| v.is_string()).collect(),
                (Coll::Complex(..), Some(Value::Array(a))) => a.iter().collect(),
                _ => Vec::new(),
            };
            let Some(body) = body else {
                return !elements.is_empty();
            };
            let mut test = |el: &'a Value| {
                env.push((*id, el));
                let r = eval(body, doc, env);
                env.pop();
                r
            };
            if *all { elements.into_iter().all(&mut test) } else { elements.into_iter().any(&mut test) }
        }
    }
}

fn literal(l: &Literal) -> V<'_> {
    match l {
        Literal::Null => V::Null,
        Literal::Str(s) | Literal::DateTime(s) | Literal::Enum(_, s) => V::Str(Cow::Borrowed(s)),
        Literal::Int(i) => V::Int(*i),
        Literal::Real(r) => V::Real(*r),
        Literal::Bool(b) => V::Bool(*b),
    }
}

fn text(v: Option<&Value>) -> V<'_> {
    match v {
        Some(Value::String(s)) => V::Str(Cow::Borrowed(s)),
        _ => V::Null,
    }
}

fn lookup<'a>(env: &Env<'a>, id: usize) -> Option<&'a Value> {
    env.iter().rev().find(|(i, _)| *i == id).map(|(_, v)| *v)
}

fn value<'a>(o: &'a Operand, doc: &'a Value, env: &Env<'a>) -> V<'a> {
    match o {
        Operand::Lit(l) => literal(l),
        Operand::Prop(p) => match p {
            Prop::Declared { name, .. } => text(doc.get(*name)),
            Prop::Member { property, member, .. } => text(doc.get(*property).and_then(|v| v.get(*member))),
            Prop::Dynamic { name, view } => dynamic(doc.get(name.as_str()), *view),
            Prop::Element { id, .. } => text(lookup(env, *id)),
            Prop::ElementMember { id, member, .. } => text(lookup(env, *id).and_then(|a| a.get(*member))),
        },
        Operand::Lower(x) => match value(x, doc, env) {
            V::Str(s) => V::Str(Cow::Owned(s.to_ascii_lowercase())),
            _ => V::Null,
        },
        Operand::Upper(x) => match value(x, doc, env) {
            V::Str(s) => V::Str(Cow::Owned(s.to_ascii_uppercase())),
            _ => V::Null,
        },
        Operand::Count(coll) => V::Int(match (coll, doc.get(coll.name())) {
            (Coll::Strings(_), Some(Value::Array(a))) => a.iter().filter(|v| v.is_string()).count() as i64,
            (Coll::Complex(..), Some(Value::Array(a))) => a.len() as i64,
            _ => 0,
        }),
    }
}

fn dynamic(v: Option<&Value>, view: DynView) -> V<'_> {
    match (view, v) {
        (_, None | Some(Value::Null)) => V::Null,
        (DynView::Any, Some(_)) => V::Present,
        (DynView::Text, Some(Value::String(s))) => V::Str(Cow::Borrowed(s)),
        (DynView::Number, Some(Value::Number(n))) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => V::Int(i),
            (None, Some(f)) => V::Real(f),
            _ => V::Null,
        },
        (DynView::Bool, Some(Value::Bool(b))) => V::Bool(*b),
        _ => V::Null,
    }
}

fn equal(l: &V, r: &V) -> bool {
    match (l, r) {
        (V::Null, V::Null) => true,
        (V::Null, _) | (_, V::Null) => false,
        _ => order(l, r) == Some(Ordering::Equal),
    }
}

/// Order of two non-null values of compatible types; `None` when either is null.
fn order(l: &V, r: &V) -> Option<Ordering> {
    match (l, r) {
        (V::Str(a), V::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (V::Int(a), V::Int(b)) => Some(a.cmp(b)),
        (V::Int(a), V::Real(b)) => (*a as f64).partial_cmp(b),
        (V::Real(a), V::Int(b)) => a.partial_cmp(&(*b as f64)),
        (V::Real(a), V::Real(b)) => a.partial_cmp(b),
        (V::Bool(a), V::Bool(b)) => Some(a.cmp(b)),
        (V::Present, V::Present) => Some(Ordering::Equal),
        _ => None,
    }
}
