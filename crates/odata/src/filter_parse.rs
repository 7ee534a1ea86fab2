//! `$filter` parser: precedence climbing over the token list, typing as it goes.
//!
//! Precedence, tightest first: primary (paths, calls, literals, parentheses), `not`, comparisons
//! (`eq ne gt ge lt le in`), `and`, `or`. Keywords, function names and declared property names
//! are case-insensitive; lambda variables and dynamic property names are case-sensitive.

use crate::filter::{CmpOp, Coll, DynView, Expr, Filter, Literal, Operand, Prop, StrFn, Ty, scalar_ty};
use crate::lexer::{Tok, Token, lex};
use crate::schema::{ComplexType, Schema, Type};
use crate::{MAX_DEPTH, MAX_TERMS, QueryError};
use typing::{enum_literal, make_cmp, unify, with_view};

mod lambda;
mod typing;

/// Parses and type-checks a `$filter` value against `schema`.
pub fn parse_filter(input: &str, schema: &Schema) -> Result<Filter, QueryError> {
    let toks = lex(input)?;
    if toks.len() == 1 {
        return Err(QueryError::at("$filter is empty", 0));
    }
    let mut p = Parser { schema, toks, i: 0, scopes: Vec::new(), next_lambda: 0, depth: 0, terms: 0 };
    let node = p.parse_or()?;
    let end = p.peek();
    if end.tok != Tok::Eof {
        return Err(QueryError::at(
            format!("expected 'and', 'or', a comparison operator or the end of $filter, found {}", end.tok.describe()),
            end.pos,
        ));
    }
    Ok(Filter { expr: to_bool(node)? })
}

struct Scope {
    var: String,
    coll: Coll,
    id: usize,
}

struct Parser<'s> {
    schema: &'s Schema,
    toks: Vec<Token>,
    i: usize,
    scopes: Vec<Scope>,
    next_lambda: usize,
    depth: usize,
    terms: usize,
}

/// A parsed sub-expression: boolean, or a value that still has to meet an operator.
enum Node {
    Bool(Expr, usize),
    Val(Operand, usize),
}

fn to_bool(node: Node) -> Result<Expr, QueryError> {
    match node {
        Node::Bool(e, _) => Ok(e),
        Node::Val(Operand::Lit(Literal::Bool(b)), _) => Ok(Expr::Const(b)),
        Node::Val(Operand::Prop(Prop::Dynamic { name, .. }), _) => Ok(Expr::Cmp {
            op: CmpOp::Eq,
            left: Operand::Prop(Prop::Dynamic { name, view: DynView::Bool }),
            right: Operand::Lit(Literal::Bool(true)),
        }),
        Node::Val(o, pos) => {
            Err(QueryError::at(format!("expected a boolean expression, found a value of type {}", o.ty().name()), pos))
        }
    }
}

fn to_val(node: Node, what: &str) -> Result<(Operand, usize), QueryError> {
    match node {
        Node::Val(o, pos) => Ok((o, pos)),
        Node::Bool(_, pos) => Err(QueryError::at(format!("{what} must be a value, not a boolean expression"), pos)),
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // The list always ends with Eof and `i` never passes it.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.toks[(self.i + ahead).min(self.toks.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.i += 1;
        }
        t
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<usize, QueryError> {
        let t = self.bump();
        if t.tok == want {
            Ok(t.pos)
        } else {
            Err(QueryError::at(format!("expected {what}, found {}", t.tok.describe()), t.pos))
        }
    }

    fn enter(&mut self, pos: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::at(format!("$filter is nested too deeply (more than {MAX_DEPTH} levels)"), pos));
        }
        Ok(())
    }

    fn term(&mut self, pos: usize) -> Result<(), QueryError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(QueryError::at(format!("$filter is too complex (more than {MAX_TERMS} terms)"), pos));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Node, QueryError> {
        let first = self.parse_and()?;
        if !self.peek().tok.is_kw("or") {
            return Ok(first);
        }
        let pos = node_pos(&first);
        let mut items = match to_bool(first)? {
            Expr::Or(more) => more,
            e => vec![e],
        };
        while self.peek().tok.is_kw("or") {
            self.bump();
            let next = self.parse_and()?;
            match to_bool(next)? {
                Expr::Or(more) => items.extend(more),
                e => items.push(e),
            }
        }
        Ok(Node::Bool(Expr::Or(items), pos))
    }

    fn parse_and(&mut self) -> Result<Node, QueryError> {
        let first = self.parse_cmp()?;
        if !self.peek().tok.is_kw("and") {
            return Ok(first);
        }
        let pos = node_pos(&first);
        let mut items = match to_bool(first)? {
            Expr::And(more) => more,
            e => vec![e],
        };
        while self.peek().tok.is_kw("and") {
            self.bump();
            let next = self.parse_cmp()?;
            match to_bool(next)? {
                Expr::And(more) => items.extend(more),
                e => items.push(e),
            }
        }
        Ok(Node::Bool(Expr::And(items), pos))
    }

    fn parse_cmp(&mut self) -> Result<Node, QueryError> {
        let mut left = self.parse_unary()?;
        loop {
            let t = self.peek().clone();
            let Tok::Ident(word) = &t.tok else {
                return Ok(left);
            };
            if let Some(op) = CmpOp::from_keyword(word) {
                self.bump();
                self.term(t.pos)?;
                let right = self.parse_unary()?;
                let start = node_pos(&left);
                left = Node::Bool(make_cmp(op, left, right, t.pos)?, start);
            } else if word.eq_ignore_ascii_case("in") {
                self.bump();
                let (operand, pos) = to_val(left, "the left side of 'in'")?;
                left = Node::Bool(self.parse_in(operand)?, pos);
            } else {
                return Ok(left);
            }
        }
    }

    fn parse_unary(&mut self) -> Result<Node, QueryError> {
        let t = self.peek().clone();
        if t.tok.is_kw("not") {
            self.bump();
            self.enter(t.pos)?;
            let inner = self.parse_unary()?;
            self.depth -= 1;
            let e = match inner {
                Node::Val(Operand::Prop(Prop::Dynamic { .. }) | Operand::Lit(Literal::Bool(_)), _) | Node::Bool(..) => {
                    to_bool(inner)?
                }
                Node::Val(o, _) => {
                    return Err(QueryError::at(
                        format!(
                            "'not' needs a boolean operand, found a value of type {}; write not (... eq ...)",
                            o.ty().name()
                        ),
                        t.pos,
                    ));
                }
            };
            return Ok(Node::Bool(Expr::Not(Box::new(e)), t.pos));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Node, QueryError> {
        let t = self.bump();
        let pos = t.pos;
        let lit = |l: Literal| Ok(Node::Val(Operand::Lit(l), pos));
        match t.tok {
            Tok::LParen => {
                self.enter(pos)?;
                let inner = self.parse_or()?;
                self.expect(Tok::RParen, "')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Str(s) => lit(Literal::Str(s)),
            Tok::Int(i) => lit(Literal::Int(i)),
            Tok::Real(r) => lit(Literal::Real(r)),
            Tok::DateTime(d) => lit(Literal::DateTime(d)),
            Tok::Enum { ty, member } => lit(enum_literal(self.schema, &ty, member, pos)?),
            Tok::Ident(word) => {
                if word.eq_ignore_ascii_case("null") {
                    lit(Literal::Null)
                } else if word.eq_ignore_ascii_case("true") {
                    lit(Literal::Bool(true))
                } else if word.eq_ignore_ascii_case("false") {
                    lit(Literal::Bool(false))
                } else if *self.peek_at(0) == Tok::LParen {
                    self.parse_call(&word, pos)
                } else {
                    self.parse_path(word, pos)
                }
            }
            other => Err(QueryError::at(format!("expected an expression, found {}", other.describe()), pos)),
        }
    }

    fn parse_call(&mut self, name: &str, pos: usize) -> Result<Node, QueryError> {
        let lower = name.to_ascii_lowercase();
        let func = match lower.as_str() {
            "startswith" => Some(StrFn::StartsWith),
            "endswith" => Some(StrFn::EndsWith),
            "contains" => Some(StrFn::Contains),
            "tolower" | "toupper" => None,
            _ => {
                return Err(QueryError::at(format!("unknown or unsupported function '{name}'"), pos));
            }
        };
        self.term(pos)?;
        self.enter(pos)?;
        self.expect(Tok::LParen, "'('")?;
        let first = self.parse_string_arg(name)?;
        let node = match func {
            Some(func) => {
                self.expect(Tok::Comma, &format!("',' and a second argument to {name}"))?;
                let second = self.parse_string_arg(name)?;
                Node::Bool(Expr::StrFn { func, left: first, right: second }, pos)
            }
            None => {
                let upper = lower == "toupper";
                let folded = match first {
                    Operand::Lit(Literal::Str(s)) => {
                        Operand::Lit(Literal::Str(if upper { s.to_ascii_uppercase() } else { s.to_ascii_lowercase() }))
                    }
                    Operand::Lit(Literal::Null) => Operand::Lit(Literal::Null),
                    other if upper => Operand::Upper(Box::new(other)),
                    other => Operand::Lower(Box::new(other)),
                };
                Node::Val(folded, pos)
            }
        };
        self.expect(Tok::RParen, &format!("')' closing {name}"))?;
        self.depth -= 1;
        Ok(node)
    }

    /// An argument of a string function: a string value (dynamic properties read as strings).
    fn parse_string_arg(&mut self, func: &str) -> Result<Operand, QueryError> {
        let node = self.parse_or()?;
        let (o, pos) = to_val(node, &format!("an argument of {func}"))?;
        match o.ty() {
            Ty::Str | Ty::Null => Ok(o),
            Ty::Dyn => Ok(with_view(o, DynView::Text)),
            t => Err(QueryError::at(format!("{func} takes Edm.String arguments, found {}", t.name()), pos)),
        }
    }

    fn parse_path(&mut self, word: String, pos: usize) -> Result<Node, QueryError> {
        if word.starts_with('$') {
            return Err(QueryError::at(format!("'{word}' is not supported here"), pos));
        }
        if let Some(scope) = self.scopes.iter().rev().find(|s| s.var == word) {
            return match scope.coll {
                Coll::Strings(name) => {
                    if *self.peek_at(0) == Tok::Slash {
                        let element = name.strip_suffix('s').unwrap_or(name);
                        return Err(QueryError::at(
                            format!("'{word}' is a {element} (Edm.String) and has no members"),
                            self.peek().pos,
                        ));
                    }
                    Ok(Node::Val(Operand::Prop(Prop::Element { id: scope.id, var: word, property: name }), pos))
                }
                Coll::Complex(_, ty) => {
                    let id = scope.id;
                    let (member, ty) = self.complex_member(&word, ty)?;
                    Ok(Node::Val(Operand::Prop(Prop::ElementMember { id, var: word, member, ty }), pos))
                }
            };
        }
        let Some(prop) = self.schema.property(&word) else {
            if *self.peek_at(0) == Tok::Slash {
                return Err(QueryError::at(
                    format!("'{word}' is a dynamic property; paths into dynamic properties are not supported"),
                    self.peek().pos,
                ));
            }
            return Ok(Node::Val(Operand::Prop(Prop::Dynamic { name: word, view: DynView::Any }), pos));
        };
        let name = prop.name;
        match prop.ty {
            Type::Complex(ty) => {
                let (member, ty) = self.complex_member(name, ty)?;
                Ok(Node::Val(Operand::Prop(Prop::Member { property: name, member, ty }), pos))
            }
            Type::Collection(Type::String) => self.parse_collection(Coll::Strings(name), pos),
            Type::Collection(Type::Complex(ty)) => self.parse_collection(Coll::Complex(name, ty), pos),
            ty => {
                let Some(ty) = scalar_ty(ty) else {
                    return Err(QueryError::at(format!("'{name}' cannot be used in $filter"), pos));
                };
                self.no_more_segments(name)?;
                Ok(Node::Val(Operand::Prop(Prop::Declared { name, ty, not_null: !prop.nullable }), pos))
            }
        }
    }

    /// `/member` after a value of the complex type `ty`: the member's name and scalar type.
    fn complex_member(&mut self, owner: &str, ty: &'static ComplexType) -> Result<(&'static str, Ty), QueryError> {
        let (name, pos) = self.member(owner, ty)?;
        let Some(member) = ty.member(&name) else {
            return Err(QueryError::at(format!("'{name}' is not a property of {}", ty.name), pos));
        };
        let Some(scalar) = scalar_ty(member.ty) else {
            return Err(QueryError::at(format!("'{owner}/{}' cannot be used in $filter", member.name), pos));
        };
        self.no_more_segments(member.name)?;
        Ok((member.name, scalar))
    }

    /// `/member` after a complex value.
    fn member(&mut self, owner: &str, ty: &ComplexType) -> Result<(String, usize), QueryError> {
        if *self.peek_at(0) != Tok::Slash {
            return Err(QueryError::at(
                format!(
                    "'{owner}' is a {}; use one of its properties, such as {owner}/{}",
                    ty.short_name(),
                    ty.example_member
                ),
                self.peek().pos,
            ));
        }
        self.bump();
        let t = self.bump();
        match t.tok {
            Tok::Ident(m) if !m.starts_with('$') => Ok((m, t.pos)),
            other => {
                Err(QueryError::at(format!("expected a property name after '/', found {}", other.describe()), t.pos))
            }
        }
    }

    fn no_more_segments(&self, name: &str) -> Result<(), QueryError> {
        if *self.peek_at(0) == Tok::Slash {
            return Err(QueryError::at(format!("'{name}' is not a complex or collection property"), self.peek().pos));
        }
        Ok(())
    }

    fn parse_in(&mut self, operand: Operand) -> Result<Expr, QueryError> {
        self.expect(Tok::LParen, "'(' after 'in'")?;
        let mut items = Vec::new();
        loop {
            let t = self.bump();
            self.term(t.pos)?;
            let l = match t.tok {
                Tok::Str(s) => Literal::Str(s),
                Tok::Int(i) => Literal::Int(i),
                Tok::Real(r) => Literal::Real(r),
                Tok::DateTime(d) => Literal::DateTime(d),
                Tok::Enum { ty, member } => enum_literal(self.schema, &ty, member, t.pos)?,
                Tok::Ident(w) if w.eq_ignore_ascii_case("null") => Literal::Null,
                Tok::Ident(w) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
                Tok::Ident(w) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
                other => {
                    return Err(QueryError::at(
                        format!("the list after 'in' holds literals only, found {}", other.describe()),
                        t.pos,
                    ));
                }
            };
            items.push((l, t.pos));
            let sep = self.bump();
            match sep.tok {
                Tok::Comma => continue,
                Tok::RParen => break,
                other => {
                    return Err(QueryError::at(
                        format!("expected ',' or ')' in the 'in' list, found {}", other.describe()),
                        sep.pos,
                    ));
                }
            }
        }
        if matches!(operand, Operand::Prop(Prop::Dynamic { .. })) {
            let mut alts = Vec::with_capacity(items.len());
            for (l, lpos) in items {
                let (left, right) = unify(CmpOp::Eq, operand.clone(), Operand::Lit(l), lpos)?;
                alts.push(Expr::Cmp { op: CmpOp::Eq, left, right });
            }
            return Ok(if alts.len() == 1 { alts.remove(0) } else { Expr::Or(alts) });
        }
        let mut lits = Vec::with_capacity(items.len());
        let mut operand = operand;
        for (l, lpos) in items {
            let (o, r) = unify(CmpOp::Eq, operand, Operand::Lit(l), lpos)?;
            operand = o;
            if let Operand::Lit(l) = r {
                lits.push(l);
            }
        }
        Ok(Expr::In { operand, items: lits })
    }
}

fn node_pos(n: &Node) -> usize {
    match n {
        Node::Bool(_, p) | Node::Val(_, p) => *p,
    }
}
