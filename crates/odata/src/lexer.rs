//! Tokens of `$filter`, `$orderby` and `$select`.

use crate::{MAX_OPTION_LEN, QueryError, datetime::canonical_datetime};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A simple identifier or keyword, or `$count`-style system name (with the `$`).
    Ident(String),
    Str(String),
    Int(i64),
    Real(f64),
    /// Canonical UTC text of a DateTimeOffset literal.
    DateTime(String),
    /// `Namespace.Type'member'`.
    Enum {
        ty: String,
        member: String,
    },
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
    Star,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

impl Tok {
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(_) => "a string literal".into(),
            Tok::Int(_) | Tok::Real(_) => "a number".into(),
            Tok::DateTime(_) => "a DateTimeOffset literal".into(),
            Tok::Enum { .. } => "an enum literal".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Slash => "'/'".into(),
            Tok::Colon => "':'".into(),
            Tok::Star => "'*'".into(),
            Tok::Eof => "end of input".into(),
        }
    }

    /// Is this the keyword `kw` (keywords are matched case-insensitively)?
    pub(crate) fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
}

fn ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

pub(crate) fn lex(input: &str) -> Result<Vec<Token>, QueryError> {
    if input.len() > MAX_OPTION_LEN {
        return Err(QueryError::new(format!("the query option is longer than {MAX_OPTION_LEN} bytes")));
    }
    let mut out = Vec::new();
    let mut it = input.char_indices().peekable();
    while let Some(&(pos, c)) = it.peek() {
        let simple = match c {
            ' ' | '\t' | '\r' | '\n' => {
                it.next();
                continue;
            }
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            '/' => Some(Tok::Slash),
            ':' => Some(Tok::Colon),
            '*' => Some(Tok::Star),
            _ => None,
        };
        if let Some(tok) = simple {
            it.next();
            out.push(Token { tok, pos });
            continue;
        }
        let rest = &input[pos..];
        let (tok, len) = if c == '\'' {
            let (s, len) = lex_string(rest, pos)?;
            (Tok::Str(s), len)
        } else if c.is_ascii_digit() || (c == '-' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            lex_number(rest, pos)?
        } else if ident_start(c) || c == '$' {
            lex_word(rest, pos)?
        } else {
            return Err(QueryError::at(format!("unexpected character '{c}'"), pos));
        };
        out.push(Token { tok, pos });
        while it.peek().is_some_and(|&(p, _)| p < pos + len) {
            it.next();
        }
    }
    out.push(Token { tok: Tok::Eof, pos: input.len() });
    Ok(out)
}

/// A quoted string with `''` for a quote; returns the value and the consumed length.
fn lex_string(rest: &str, pos: usize) -> Result<(String, usize), QueryError> {
    let mut value = String::new();
    let mut chars = rest.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                chars.next();
                value.push('\'');
            } else {
                return Ok((value, i + 1));
            }
        } else {
            value.push(c);
        }
    }
    Err(QueryError::at("unterminated string literal", pos))
}

fn lex_number(rest: &str, pos: usize) -> Result<(Tok, usize), QueryError> {
    let b = rest.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let first = digits(0);
    if first == 4 && b.get(4) == Some(&b'-') {
        let len = b.iter().take_while(|c| c.is_ascii_digit() || b"-:.+TZ".contains(c)).count();
        let text = &rest[..len];
        let canonical = canonical_datetime(text).map_err(|m| QueryError::at(m, pos))?;
        return finish(rest, pos, Tok::DateTime(canonical), len);
    }
    let mut len = if b[0] == b'-' { 1 + digits(1) } else { first };
    let mut real = false;
    if b.get(len) == Some(&b'.') {
        let frac = digits(len + 1);
        if frac == 0 {
            return Err(QueryError::at("a decimal point must be followed by digits", pos + len));
        }
        len += 1 + frac;
        real = true;
    }
    if matches!(b.get(len), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(len + 1), Some(b'+' | b'-')));
        let exp = digits(len + 1 + sign);
        if exp == 0 {
            return Err(QueryError::at("an exponent must have digits", pos + len));
        }
        len += 1 + sign + exp;
        real = true;
    }
    let text = &rest[..len];
    let tok = if real {
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Tok::Real(v),
            _ => {
                return Err(QueryError::at(format!("number '{text}' is out of range"), pos));
            }
        }
    } else {
        match text.parse::<i64>() {
            Ok(v) => Tok::Int(v),
            Err(_) => {
                return Err(QueryError::at(format!("number '{text}' is out of range"), pos));
            }
        }
    };
    finish(rest, pos, tok, len)
}

fn finish(rest: &str, pos: usize, tok: Tok, len: usize) -> Result<(Tok, usize), QueryError> {
    match rest[len..].chars().next() {
        Some(c) if ident_continue(c) || c == '.' || c == '\'' || c == '-' => {
            Err(QueryError::at(format!("unexpected '{c}' after a literal"), pos + len))
        }
        _ => Ok((tok, len)),
    }
}

/// An identifier, a `$name`, or a qualified enum literal `a.b.Type'member'`.
fn lex_word(rest: &str, pos: usize) -> Result<(Tok, usize), QueryError> {
    let ident_len = |s: &str| -> usize {
        let mut n = 0;
        for (i, c) in s.char_indices() {
            if (i == 0 && ident_start(c)) || (i > 0 && ident_continue(c)) {
                n = i + c.len_utf8();
            } else {
                break;
            }
        }
        n
    };
    let dollar = usize::from(rest.starts_with('$'));
    let mut len = dollar + ident_len(&rest[dollar..]);
    if len == dollar {
        return Err(QueryError::at("'$' must start a system name such as $count", pos));
    }
    if dollar == 0 {
        while rest[len..].starts_with('.') {
            let seg = ident_len(&rest[len + 1..]);
            if seg == 0 {
                return Err(QueryError::at("unexpected '.'", pos + len));
            }
            len += 1 + seg;
        }
        if rest[len..].starts_with('\'') {
            let (member, slen) = lex_string(&rest[len..], pos + len)?;
            let tok = Tok::Enum { ty: rest[..len].to_owned(), member };
            return finish(rest, pos, tok, len + slen);
        }
        if rest[..len].contains('.') {
            return Err(QueryError::at(format!("unsupported qualified name '{}'", &rest[..len]), pos));
        }
    }
    if len - dollar > 128 {
        return Err(QueryError::at("identifier longer than 128 characters", pos));
    }
    Ok((Tok::Ident(rest[..len].to_owned()), len))
}
