//! A SOQL subset: tokenizer, recursive-descent parser, type checks against the schema,
//! and evaluation of WHERE / ORDER BY over the simulator's records.

use std::cmp::Ordering;
use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};

use super::model::{FieldType, Obj, Row, Val};

/// A query error with Salesforce's `errorCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoqlError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

fn malformed(message: String) -> SoqlError {
    SoqlError {
        code: "MALFORMED_QUERY",
        message,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    DateTime(DateTime<Utc>),
    Date(NaiveDate),
    LParen,
    RParen,
    Comma,
    Op(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, SoqlError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = |tok| Token { tok, pos };
        match c {
            '(' => {
                out.push(single(Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push(single(Tok::RParen));
                i += 1;
            }
            ',' => {
                out.push(single(Tok::Comma));
                i += 1;
            }
            '=' => {
                out.push(single(Tok::Op("=")));
                i += 1;
            }
            '!' | '<' | '>' => {
                let next = chars.get(i + 1).map(|(_, c)| *c);
                let (op, len) = match (c, next) {
                    ('!', Some('=')) => ("!=", 2),
                    ('<', Some('>')) => ("!=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    ('>', _) => (">", 1),
                    _ => return Err(malformed(format!("unexpected token: '{c}'"))),
                };
                out.push(single(Tok::Op(op)));
                i += len;
            }
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    let Some((_, c)) = chars.get(i).copied() else {
                        return Err(malformed("unterminated string literal".into()));
                    };
                    i += 1;
                    match c {
                        '\'' => break,
                        '\\' => {
                            let Some((_, e)) = chars.get(i).copied() else {
                                return Err(malformed("unterminated string literal".into()));
                            };
                            i += 1;
                            match e {
                                '\'' | '"' | '\\' => value.push(e),
                                'n' => value.push('\n'),
                                'r' => value.push('\r'),
                                't' => value.push('\t'),
                                'b' => value.push('\u{8}'),
                                'f' => value.push('\u{c}'),
                                // LIKE wildcards stay escaped for the pattern matcher.
                                '%' | '_' => {
                                    value.push('\\');
                                    value.push(e);
                                }
                                other => {
                                    return Err(malformed(format!(
                                        "Invalid string literal '\\{other}'. Illegal character sequence '\\{other}' in string literal."
                                    )));
                                }
                            }
                        }
                        c => value.push(c),
                    }
                }
                out.push(Token {
                    tok: Tok::Str(value),
                    pos,
                });
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|(_, c)| *c).collect();
                out.push(Token {
                    tok: Tok::Ident(word),
                    pos,
                });
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|(_, c)| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '+')
                }) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|(_, c)| *c).collect();
                out.push(Token {
                    tok: literal(&word)?,
                    pos,
                });
            }
            other => return Err(malformed(format!("unexpected token: '{other}'"))),
        }
    }
    Ok(out)
}

/// Classifies an unquoted literal: dateTime, date or number.
fn literal(word: &str) -> Result<Tok, SoqlError> {
    if word.contains('T') {
        let parsed = DateTime::parse_from_rfc3339(word)
            .or_else(|_| DateTime::parse_from_str(word, "%Y-%m-%dT%H:%M:%S%.f%z"));
        return parsed
            .map(|d| Tok::DateTime(d.with_timezone(&Utc)))
            .map_err(|_| {
                malformed(format!(
                    "line 1:0 no viable alternative at character '{word}'"
                ))
            });
    }
    if word.len() == 10 && word.as_bytes().get(4) == Some(&b'-') {
        return NaiveDate::parse_from_str(word, "%Y-%m-%d")
            .map(Tok::Date)
            .map_err(|_| malformed(format!("invalid date: {word}")));
    }
    word.parse::<f64>()
        .map(Tok::Num)
        .map_err(|_| malformed(format!("unexpected token: '{word}'")))
}

/// A field as written in the query, resolved against the schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldRef {
    /// `Some((relationship name, foreign key field, parent))` for `Account.Name`.
    pub(crate) rel: Option<(&'static str, &'static str, Obj)>,
    pub(crate) name: &'static str,
    pub(crate) ty: FieldType,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    Dt(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Cmp(FieldRef, &'static str, Lit),
    In {
        field: FieldRef,
        negated: bool,
        values: Vec<Lit>,
        /// Lowercased string values, for O(1) case-insensitive membership.
        lowered: HashSet<String>,
    },
    Like(FieldRef, Vec<char>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderKey {
    pub(crate) field: FieldRef,
    pub(crate) desc: bool,
    pub(crate) nulls_first: bool,
}

/// A parsed, schema-checked query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub(crate) object: Obj,
    /// Empty for `SELECT COUNT()`.
    pub(crate) fields: Vec<FieldRef>,
    pub(crate) count_only: bool,
    pub(crate) filter: Option<Cond>,
    pub(crate) order: Vec<OrderKey>,
    pub(crate) limit: Option<usize>,
    pub(crate) offset: usize,
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    object: Option<Obj>,
}

/// Parses and checks `src`. `acr_enabled` makes AccountContactRelation queryable.
pub(crate) fn parse(src: &str, acr_enabled: bool) -> Result<Query, SoqlError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        src,
        toks,
        i: 0,
        object: None,
    };
    p.query(acr_enabled)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.tok.clone());
        self.i += 1;
        t
    }

    fn unexpected(&self) -> SoqlError {
        match self.toks.get(self.i) {
            Some(t) => malformed(format!(
                "{}\nERROR at Row:1:Column:{}\nunexpected token: '{}'",
                self.caret(t.pos),
                t.pos + 1,
                token_text(&t.tok)
            )),
            None => malformed("unexpected end of query".into()),
        }
    }

    fn caret(&self, pos: usize) -> String {
        format!("\n{}\n{}^", self.src, " ".repeat(pos))
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.is_kw(kw) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn query(&mut self, acr_enabled: bool) -> Result<Query, SoqlError> {
        self.expect_kw("SELECT")?;
        // Field names are resolved after FROM is known.
        let mut raw_fields: Vec<(String, usize)> = Vec::new();
        let mut count_only = false;
        if self.is_kw("COUNT") && self.toks.get(self.i + 1).map(|t| &t.tok) == Some(&Tok::LParen) {
            self.i += 2;
            if self.next() != Some(Tok::RParen) {
                self.i -= 1;
                return Err(self.unexpected());
            }
            count_only = true;
        } else {
            loop {
                let pos = self.toks.get(self.i).map_or(0, |t| t.pos);
                match self.next() {
                    Some(Tok::Ident(w)) if !w.eq_ignore_ascii_case("FROM") => {
                        raw_fields.push((w, pos))
                    }
                    _ => {
                        self.i -= 1;
                        return Err(self.unexpected());
                    }
                }
                if self.peek() == Some(&Tok::Comma) {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }
        self.expect_kw("FROM")?;
        let pos = self.toks.get(self.i).map_or(0, |t| t.pos);
        let object = match self.next() {
            Some(Tok::Ident(name)) => match Obj::from_name(&name) {
                Some(Obj::Relation) if !acr_enabled => None,
                other => other,
            }
            .ok_or_else(|| SoqlError {
                code: "INVALID_TYPE",
                message: format!(
                    "{}\nERROR at Row:1:Column:{}\nsObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                    self.caret(pos),
                    pos + 1
                ),
            })?,
            _ => {
                self.i -= 1;
                return Err(self.unexpected());
            }
        };
        self.object = Some(object);
        let mut fields = Vec::with_capacity(raw_fields.len());
        let mut seen = HashSet::new();
        for (name, pos) in raw_fields {
            let field = self.resolve(&name, pos)?;
            if !seen.insert(name.to_lowercase()) {
                return Err(malformed(format!("duplicate field selected: {name}")));
            }
            fields.push(field);
        }
        let filter = if self.is_kw("WHERE") {
            self.i += 1;
            Some(self.or_expr()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.is_kw("ORDER") {
            self.i += 1;
            self.expect_kw("BY")?;
            loop {
                let pos = self.toks.get(self.i).map_or(0, |t| t.pos);
                let field = match self.next() {
                    Some(Tok::Ident(w)) => self.resolve(&w, pos)?,
                    _ => {
                        self.i -= 1;
                        return Err(self.unexpected());
                    }
                };
                let mut desc = false;
                if self.is_kw("ASC") {
                    self.i += 1;
                } else if self.is_kw("DESC") {
                    self.i += 1;
                    desc = true;
                }
                // Salesforce default: nulls first ascending, nulls last descending.
                let mut nulls_first = !desc;
                if self.is_kw("NULLS") {
                    self.i += 1;
                    if self.is_kw("FIRST") {
                        nulls_first = true;
                    } else if self.is_kw("LAST") {
                        nulls_first = false;
                    } else {
                        return Err(self.unexpected());
                    }
                    self.i += 1;
                }
                order.push(OrderKey {
                    field,
                    desc,
                    nulls_first,
                });
                if self.peek() == Some(&Tok::Comma) {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }
        let mut limit = None;
        if self.is_kw("LIMIT") {
            self.i += 1;
            limit = Some(self.count_value()?);
        }
        let mut offset = 0;
        if self.is_kw("OFFSET") {
            self.i += 1;
            offset = self.count_value()?;
        }
        if self.i < self.toks.len() {
            return Err(self.unexpected());
        }
        Ok(Query {
            object,
            fields,
            count_only,
            filter,
            order,
            limit,
            offset,
        })
    }

    fn count_value(&mut self) -> Result<usize, SoqlError> {
        match self.next() {
            Some(Tok::Num(n)) if n >= 0.0 && n.fract() == 0.0 => Ok(n as usize),
            _ => {
                self.i -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn resolve(&self, name: &str, pos: usize) -> Result<FieldRef, SoqlError> {
        let object = self.object.unwrap_or(Obj::Account);
        let unknown = |entity: &str, field: &str| SoqlError {
            code: "INVALID_FIELD",
            message: format!(
                "{}\nERROR at Row:1:Column:{}\nNo such column '{field}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                self.caret(pos),
                pos + 1
            ),
        };
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            [field] => {
                let (name, ty) = object
                    .field(field)
                    .ok_or_else(|| unknown(object.api_name(), field))?;
                Ok(FieldRef {
                    rel: None,
                    name,
                    ty,
                })
            }
            [rel, field] => {
                let relationship = object
                    .relationship(rel)
                    .ok_or_else(|| unknown(object.api_name(), rel))?;
                let (name, ty) = relationship
                    .2
                    .field(field)
                    .ok_or_else(|| unknown(relationship.2.api_name(), field))?;
                Ok(FieldRef {
                    rel: Some(relationship),
                    name,
                    ty,
                })
            }
            _ => Err(malformed(format!(
                "{}\nERROR at Row:1:Column:{}\nrelationships deeper than one level are not supported: {name}",
                self.caret(pos),
                pos + 1
            ))),
        }
    }

    /// `a AND b OR c` is rejected, as in SOQL: mixing needs parentheses.
    fn or_expr(&mut self) -> Result<Cond, SoqlError> {
        let first = self.unary()?;
        let mut items = vec![first];
        let mut joiner: Option<&'static str> = None;
        loop {
            let op = if self.is_kw("AND") {
                "AND"
            } else if self.is_kw("OR") {
                "OR"
            } else {
                break;
            };
            if joiner.is_some_and(|j| j != op) {
                return Err(self.unexpected());
            }
            joiner = Some(op);
            self.i += 1;
            items.push(self.unary()?);
        }
        Ok(match (joiner, items.len()) {
            (_, 1) => items.pop().unwrap_or(Cond::And(Vec::new())),
            (Some("OR"), _) => Cond::Or(items),
            _ => Cond::And(items),
        })
    }

    fn unary(&mut self) -> Result<Cond, SoqlError> {
        if self.is_kw("NOT") {
            self.i += 1;
            return Ok(Cond::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            let inner = self.or_expr()?;
            if self.next() != Some(Tok::RParen) {
                self.i -= 1;
                return Err(self.unexpected());
            }
            return Ok(inner);
        }
        let pos = self.toks.get(self.i).map_or(0, |t| t.pos);
        let field = match self.next() {
            Some(Tok::Ident(w)) => self.resolve(&w, pos)?,
            _ => {
                self.i -= 1;
                return Err(self.unexpected());
            }
        };
        let negated = if self.is_kw("NOT") {
            self.i += 1;
            if !self.is_kw("IN") {
                return Err(self.unexpected());
            }
            true
        } else {
            false
        };
        if self.is_kw("IN") {
            self.i += 1;
            if self.next() != Some(Tok::LParen) {
                self.i -= 1;
                return Err(self.unexpected());
            }
            let mut values = Vec::new();
            loop {
                let lit_pos = self.toks.get(self.i).map_or(0, |t| t.pos);
                let lit = self.value()?;
                self.check_type(&field, &lit, lit_pos)?;
                values.push(lit);
                match self.next() {
                    Some(Tok::Comma) => {}
                    Some(Tok::RParen) => break,
                    _ => {
                        self.i -= 1;
                        return Err(self.unexpected());
                    }
                }
            }
            let lowered = values
                .iter()
                .filter_map(|v| match v {
                    Lit::Str(s) => Some(s.to_lowercase()),
                    _ => None,
                })
                .collect();
            return Ok(Cond::In {
                field,
                negated,
                values,
                lowered,
            });
        }
        if self.is_kw("LIKE") {
            self.i += 1;
            return match self.next() {
                Some(Tok::Str(pattern)) => {
                    Ok(Cond::Like(field, pattern.to_lowercase().chars().collect()))
                }
                _ => {
                    self.i -= 1;
                    Err(self.unexpected())
                }
            };
        }
        let op = match self.next() {
            Some(Tok::Op(op)) => op,
            _ => {
                self.i -= 1;
                return Err(self.unexpected());
            }
        };
        let lit_pos = self.toks.get(self.i).map_or(0, |t| t.pos);
        let lit = self.value()?;
        self.check_type(&field, &lit, lit_pos)?;
        Ok(Cond::Cmp(field, op, lit))
    }

    fn value(&mut self) -> Result<Lit, SoqlError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Num(n)) => Ok(Lit::Num(n)),
            Some(Tok::DateTime(d)) => Ok(Lit::Dt(d)),
            Some(Tok::Date(d)) => Ok(Lit::Dt(
                d.and_hms_opt(0, 0, 0)
                    .map_or(DateTime::UNIX_EPOCH, |d| d.and_utc()),
            )),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Ok(Lit::Null),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Ok(Lit::Bool(true)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Ok(Lit::Bool(false)),
            _ => {
                self.i -= 1;
                Err(self.unexpected())
            }
        }
    }

    /// Salesforce rejects a quoted dateTime or an unquoted string with INVALID_FIELD.
    fn check_type(&self, field: &FieldRef, lit: &Lit, pos: usize) -> Result<(), SoqlError> {
        let expected = match (field.ty, lit) {
            (_, Lit::Null) => return Ok(()),
            (FieldType::Id | FieldType::Text, Lit::Str(_)) => return Ok(()),
            (FieldType::Bool, Lit::Bool(_)) => return Ok(()),
            (FieldType::Number, Lit::Num(_)) => return Ok(()),
            (FieldType::Number, _) => "number and should not be enclosed in quotes",
            (FieldType::DateTime, Lit::Dt(_)) => return Ok(()),
            (FieldType::Id | FieldType::Text, _) => "string and should be enclosed in quotes",
            (FieldType::Bool, _) => "boolean and should not be enclosed in quotes",
            (FieldType::DateTime, _) => "dateTime and should not be enclosed in quotes",
        };
        Err(SoqlError {
            code: "INVALID_FIELD",
            message: format!(
                "{}\nERROR at Row:1:Column:{}\nvalue of filter criterion for field '{}' must be of type {expected}",
                self.caret(pos),
                pos + 1,
                field.name
            ),
        })
    }
}

fn token_text(t: &Tok) -> String {
    match t {
        Tok::Ident(w) => w.clone(),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(n) => n.to_string(),
        Tok::DateTime(d) => d.to_rfc3339(),
        Tok::Date(d) => d.to_string(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Op(op) => (*op).into(),
    }
}

/// Looks up a parent record for relationship fields.
pub(crate) trait Parents {
    fn parent(&self, object: Obj, id: &str) -> Option<&dyn Row>;
}

/// The value of `field` on `row`, following one relationship when needed.
pub(crate) fn value_of<'a>(
    row: &'a dyn Row,
    field: &FieldRef,
    parents: &'a dyn Parents,
) -> Val<'a> {
    match field.rel {
        None => row.get(field.name),
        Some((_, fk, parent)) => match row.get(fk) {
            Val::Str(id) => parents
                .parent(parent, &id)
                .map_or(Val::Null, |p| p.get(field.name)),
            _ => Val::Null,
        },
    }
}

impl Cond {
    pub(crate) fn matches(&self, row: &dyn Row, parents: &dyn Parents) -> bool {
        match self {
            Cond::And(items) => items.iter().all(|c| c.matches(row, parents)),
            Cond::Or(items) => items.iter().any(|c| c.matches(row, parents)),
            Cond::Not(inner) => !inner.matches(row, parents),
            Cond::Cmp(field, op, lit) => compare(&value_of(row, field, parents), op, lit),
            Cond::In {
                field,
                negated,
                values,
                lowered,
            } => {
                let v = value_of(row, field, parents);
                let found = match &v {
                    Val::Str(s) => lowered.contains(&s.to_lowercase()),
                    other => values.iter().any(|l| compare(other, "=", l)),
                };
                found != *negated
            }
            Cond::Like(field, pattern) => match value_of(row, field, parents) {
                Val::Str(s) => like(&s.to_lowercase().chars().collect::<Vec<_>>(), pattern),
                _ => false,
            },
        }
    }
}

/// SOQL comparison: strings compare case-insensitively, `= null` tests for null, and
/// ordering comparisons against null are false.
fn compare(v: &Val<'_>, op: &str, lit: &Lit) -> bool {
    let ord = match (v, lit) {
        (Val::Null, Lit::Null) => Some(Ordering::Equal),
        (Val::Null, _) | (_, Lit::Null) => None,
        (Val::Str(a), Lit::Str(b)) => Some(cmp_ci(a, b)),
        (Val::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        (Val::Dt(a), Lit::Dt(b)) => Some(a.cmp(b)),
        (Val::Str(a), Lit::Num(b)) => a.parse::<f64>().ok().and_then(|a| a.partial_cmp(b)),
        _ => None,
    };
    match (op, ord) {
        ("=", Some(o)) => o == Ordering::Equal,
        ("=", None) => false,
        ("!=", Some(o)) => o != Ordering::Equal,
        ("!=", None) => true,
        ("<", Some(o)) => o == Ordering::Less,
        ("<=", Some(o)) => o != Ordering::Greater,
        (">", Some(o)) => o == Ordering::Greater,
        (">=", Some(o)) => o != Ordering::Less,
        _ => false,
    }
}

fn cmp_ci(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

/// `%` matches any run, `_` one character, `\%`/`\_` the literal character.
fn like(s: &[char], p: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('%') => (0..=s.len()).any(|k| like(&s[k..], &p[1..])),
        Some('_') => !s.is_empty() && like(&s[1..], &p[1..]),
        Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && like(&s[1..], &p[2..]),
        Some(c) => s.first() == Some(c) && like(&s[1..], &p[1..]),
    }
}

/// The ORDER BY values of one row, extracted once so sorting does not re-read fields.
pub(crate) fn sort_key<'a>(
    row: &'a dyn Row,
    keys: &[OrderKey],
    parents: &'a dyn Parents,
) -> Vec<Val<'a>> {
    keys.iter()
        .map(|key| value_of(row, &key.field, parents))
        .collect()
}

/// Compares two extracted sort keys by the query's ORDER BY directions and null placement.
pub(crate) fn compare_keys(a: &[Val<'_>], b: &[Val<'_>], keys: &[OrderKey]) -> Ordering {
    for ((va, vb), key) in a.iter().zip(b).zip(keys) {
        let ord = match (va, vb) {
            (Val::Null, Val::Null) => Ordering::Equal,
            (Val::Null, _) => {
                if key.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (_, Val::Null) => {
                if key.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (x, y) => {
                let o = match (x, y) {
                    (Val::Str(x), Val::Str(y)) => cmp_ci(x, y).then_with(|| x.cmp(y)),
                    (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
                    (Val::Dt(x), Val::Dt(y)) => x.cmp(y),
                    _ => Ordering::Equal,
                };
                if key.desc { o.reverse() } else { o }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        let m = |s: &str, p: &str| {
            like(
                &s.chars().collect::<Vec<_>>(),
                &p.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("acme corp", "acme%"));
        assert!(m("acme", "a_me"));
        assert!(!m("acme", "a_e"));
        assert!(m("50%", "50\\%"));
        assert!(!m("500", "50\\%"));
    }

    #[test]
    fn mixing_and_or_without_parentheses_is_malformed() {
        let err = parse(
            "SELECT Id FROM Contact WHERE Email = 'a' AND Phone = 'b' OR Title = 'c'",
            true,
        )
        .expect_err("must fail");
        assert_eq!(err.code, "MALFORMED_QUERY");
    }

    #[test]
    fn datetime_literals_with_offsets() {
        let q = parse(
            "SELECT Id FROM Contact WHERE SystemModstamp > 2024-01-31T23:01:01+01:00",
            true,
        )
        .expect("parses");
        let Some(Cond::Cmp(_, ">", Lit::Dt(d))) = q.filter else {
            panic!("unexpected filter");
        };
        assert_eq!(d.to_rfc3339(), "2024-01-31T22:01:01+00:00");
    }

    #[test]
    fn quoted_datetime_is_invalid_field() {
        let err = parse(
            "SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-31T23:01:01Z'",
            true,
        )
        .expect_err("must fail");
        assert_eq!(err.code, "INVALID_FIELD");
    }
}
