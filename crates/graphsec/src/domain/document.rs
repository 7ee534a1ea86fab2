//! A stored profile document as its top-level members, in canonical order (declared members in
//! CSDL order, null when missing, then the dynamic ones as stored). Each member keeps the JSON text
//! it was stored as until a write replaces it, so a PATCH of one member neither builds nor writes
//! out the values of the others: the text of a member left alone goes back out as it came in.

use super::members;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// A member's value: as stored, or as a write set it.
#[derive(Debug, Clone)]
enum Slot<'a> {
    Stored(&'a RawValue),
    Set(Value),
}

impl Slot<'_> {
    fn value(&self) -> serde_json::Result<Value> {
        match self {
            Slot::Stored(raw) => serde_json::from_str(raw.get()),
            Slot::Set(value) => Ok(value.clone()),
        }
    }

    /// Whether both hold the same JSON value. Texts that are equal need no parsing; the compact
    /// text of a set value is what the stored text is whenever graphsec wrote it.
    fn same_as(&self, other: &Slot<'_>) -> bool {
        match (self, other) {
            (Slot::Set(a), Slot::Set(b)) => a == b,
            (Slot::Stored(a), Slot::Stored(b)) if a.get() == b.get() => true,
            (Slot::Stored(raw), Slot::Set(value)) | (Slot::Set(value), Slot::Stored(raw))
                if serde_json::to_string(value).is_ok_and(|text| text == raw.get()) =>
            {
                true
            }
            _ => matches!((self.value(), other.value()), (Ok(a), Ok(b)) if a == b),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Document<'a> {
    members: Vec<(Cow<'a, str>, Slot<'a>)>,
}

impl<'a> Document<'a> {
    /// Reads a stored document; an error when it is not a JSON object.
    pub fn read(text: &'a str) -> serde_json::Result<Document<'a>> {
        let Stored(stored) = serde_json::from_str(text)?;
        if repeats_a_name(&stored) {
            // Its value is the last one, as when the text is parsed whole.
            return Ok(Document::of(serde_json::from_str(text)?));
        }
        let stored = stored.into_iter().map(|(name, raw)| (name, Slot::Stored(raw)));
        Ok(Document::canonical(stored.collect()))
    }

    /// A document whose every member is set: `map` in canonical order.
    fn of(map: Map<String, Value>) -> Document<'static> {
        Document::canonical(map.into_iter().map(|(name, value)| (Cow::Owned(name), Slot::Set(value))).collect())
    }

    /// Puts the declared members first in declared order, null when missing.
    fn canonical(mut members: Vec<(Cow<'a, str>, Slot<'a>)>) -> Document<'a> {
        let in_order = members.iter().map(|(name, _)| name.as_ref()).take(members::MEMBERS.len()).eq(members::names());
        if !in_order {
            let mut ordered = Vec::with_capacity(members.len().max(members::MEMBERS.len()));
            for declared in members::names() {
                let slot = match members.iter().position(|(name, _)| name == declared) {
                    Some(at) => members.remove(at).1,
                    None => Slot::Set(Value::Null),
                };
                ordered.push((Cow::Borrowed(declared), slot));
            }
            ordered.append(&mut members);
            members = ordered;
        }
        Document { members }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(name, _)| name.as_ref())
    }

    fn slot(&self, name: &str) -> Option<&Slot<'a>> {
        self.position(name).map(|at| &self.members[at].1)
    }

    /// Where a member is: a declared one at its declared place (`canonical`), a dynamic one
    /// found by a search, which is why many dynamic members are only ever handled in one pass.
    fn position(&self, name: &str) -> Option<usize> {
        let declared = members::MEMBERS.iter().position(|m| m.name == name);
        match declared.filter(|&at| self.members.get(at).is_some_and(|(n, _)| n == name)) {
            Some(at) => Some(at),
            None => self.members.iter().position(|(n, _)| n == name),
        }
    }

    /// A member's value; `None` when the document has no such member.
    pub fn value(&self, name: &str) -> serde_json::Result<Option<Value>> {
        self.slot(name).map(Slot::value).transpose()
    }

    /// A member's value when it is a string; "" otherwise.
    pub fn string(&self, name: &str) -> String {
        match self.value(name) {
            Ok(Some(Value::String(s))) => s,
            _ => String::new(),
        }
    }

    /// Sets a member the document has; a declared one it always has.
    pub fn set(&mut self, name: &str, value: Value) {
        if let Some(at) = self.position(name) {
            self.members[at].1 = Slot::Set(value);
        }
    }

    /// Sets members by name: each in its place when the document has it, the others last, in
    /// the order given.
    pub fn set_all(&mut self, values: Vec<(&str, Value)>) {
        let mut values: Vec<Option<(&str, Value)>> = values.into_iter().map(Some).collect();
        let mut at: HashMap<&str, usize> =
            values.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|(name, _)| (*name, i))).collect();
        for (name, slot) in &mut self.members {
            if let Some((_, value)) = at.remove(name.as_ref()).and_then(|i| values[i].take()) {
                *slot = Slot::Set(value);
            }
        }
        let added = values.into_iter().flatten().map(|(name, value)| (Cow::Owned(name.to_string()), Slot::Set(value)));
        self.members.extend(added);
    }

    /// Removes dynamic members; the declared ones stay (null is how a declared member is unset).
    pub fn remove(&mut self, names: &HashSet<&str>) {
        self.members.retain(|(name, _)| members::is_declared(name) || !names.contains(name.as_ref()));
    }

    /// The members whose value differs from `before`'s, in this document's order, then those
    /// `before` has and this one does not. `lastModifiedDateTime` does not count: it only
    /// records that something else changed.
    pub fn changed_since(&self, before: &Document<'_>) -> Vec<String> {
        let counts = |name: &str| name != "lastModifiedDateTime";
        // A PATCH that sets no new dynamic member and removes none leaves the names as they were,
        // in the same order: the values are then compared pairwise, without looking each name up.
        if self.names().eq(before.names()) {
            return self
                .members
                .iter()
                .zip(&before.members)
                .filter(|((name, after), (_, was))| counts(name) && !after.same_as(was))
                .map(|((name, _), _)| name.to_string())
                .collect();
        }
        let was: HashMap<&str, &Slot<'_>> = before.members.iter().map(|(name, slot)| (name.as_ref(), slot)).collect();
        let is: HashSet<&str> = self.names().collect();
        let changed = self
            .members
            .iter()
            .filter(|(name, after)| counts(name) && !was.get(name.as_ref()).is_some_and(|was| after.same_as(was)))
            .map(|(name, _)| name.to_string());
        let removed = before.names().filter(|name| !is.contains(name)).map(str::to_string);
        changed.chain(removed).collect()
    }

    /// The members the stores copy into columns and tag rows, as `before` had them and as this
    /// document has them. A member both hold as the same stored text is parsed once.
    pub fn copied_since(&self, before: &Document<'_>) -> serde_json::Result<(Copied, Copied)> {
        let (mut was, mut is) = (Vec::new(), Vec::new());
        // The declared members lead, in declared order (`canonical`).
        let declared = members::MEMBERS.iter().zip(self.members.iter().zip(&before.members));
        for (member, ((_, after), (_, earlier))) in declared {
            if member.column.is_none() && !member.indexed {
                continue;
            }
            let value = after.value()?;
            let old = match (after, earlier) {
                (Slot::Stored(a), Slot::Stored(b)) if a.get() == b.get() => value.clone(),
                _ => earlier.value()?,
            };
            was.push((member.name, old));
            is.push((member.name, value));
        }
        Ok((Copied(was), Copied(is)))
    }

    /// The document as compact JSON text.
    pub fn text(&self) -> serde_json::Result<String> {
        let mut text = Vec::with_capacity(self.members.iter().map(|(n, s)| n.len() + slot_len(s) + 4).sum());
        text.push(b'{');
        for (i, (name, slot)) in self.members.iter().enumerate() {
            if i > 0 {
                text.push(b',');
            }
            serde_json::to_writer(&mut text, name.as_ref())?;
            text.push(b':');
            match slot {
                Slot::Stored(raw) => text.extend_from_slice(raw.get().as_bytes()),
                Slot::Set(value) => serde_json::to_writer(&mut text, value)?,
            }
        }
        text.push(b'}');
        String::from_utf8(text).map_err(serde::ser::Error::custom)
    }
}

fn repeats_a_name(stored: &[(Cow<'_, str>, &RawValue)]) -> bool {
    // The declared names once each in declared order, as graphsec writes a document without
    // dynamic members, need no looking.
    if stored.iter().map(|(name, _)| name.as_ref()).eq(members::names()) {
        return false;
    }
    let mut seen = HashSet::with_capacity(stored.len());
    !stored.iter().all(|(name, _)| seen.insert(name.as_ref()))
}

fn slot_len(slot: &Slot<'_>) -> usize {
    match slot {
        Slot::Stored(raw) => raw.get().len(),
        Slot::Set(_) => 16,
    }
}

/// The values of the members the stores copy into columns and tag rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied(Vec<(&'static str, Value)>);

impl Copied {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, value)| value)
    }
}

/// A JSON object's members as they come, names borrowed unless escaped, values as their text.
struct Stored<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Stored<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Stored<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Stored<'de>, A::Error> {
                let mut members = Vec::with_capacity(members::MEMBERS.len());
                while let Some((Name(name), value)) = map.next_entry()? {
                    members.push((name, value));
                }
                Ok(Stored(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// A member name, borrowed from the text when it holds no escape.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(name.to_string())))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Document<'_> {
        Document::read(text).expect("a JSON object")
    }

    /// The canonical text of a document given as values: what serde_json writes of it.
    fn canonical_text(value: Value) -> String {
        let Value::Object(map) = value else { panic!("an object") };
        let doc = Document::of(map);
        let values: Map<String, Value> =
            doc.members.iter().map(|(name, slot)| (name.to_string(), slot.value().expect("a value"))).collect();
        serde_json::to_string(&values).expect("text")
    }

    #[test]
    fn changed_members_in_document_order_then_the_removed_ones() {
        let before = json!({"a": 1, "lastModifiedDateTime": "x", "b": 2, "c": 3}).to_string();
        let same_names = json!({"a": 1, "lastModifiedDateTime": "y", "b": 5, "c": 4}).to_string();
        assert_eq!(read(&same_names).changed_since(&read(&before)), ["b", "c"]);
        let other_names = json!({"c": 3, "a": 0, "d": 1, "lastModifiedDateTime": "y"}).to_string();
        assert_eq!(read(&other_names).changed_since(&read(&before)), ["a", "d", "b"]);
    }

    #[test]
    fn a_member_set_to_the_value_it_had_is_unchanged_however_it_was_written() {
        let stored = r#"{"displayName":"A\u00e9","riskScore":"1","tags":["x", "y"]}"#;
        let before = read(stored);
        let mut after = before.clone();
        after.set("displayName", json!("Aé"));
        after.set("tags", json!(["x", "y"]));
        assert!(after.changed_since(&before).is_empty());
        after.set("riskScore", json!(1));
        assert_eq!(after.changed_since(&before), ["riskScore"], "a number is not the string it spells");
    }

    #[test]
    fn a_document_written_by_graphsec_reads_back_as_the_same_text() {
        let text = canonical_text(
            json!({"id": "p", "displayName": "q\"uote \u{1F600}", "tags": ["a"], "dyn": {"x": [1.5, null]}}),
        );
        assert_eq!(read(&text).text().expect("text"), text);
    }

    #[test]
    fn members_out_of_order_or_missing_are_put_in_canonical_order() {
        let shuffled = json!({"dyn": 1, "tags": ["a"], "id": "p"}).to_string();
        let doc = read(&shuffled);
        let expected = canonical_text(json!({"id": "p", "tags": ["a"], "dyn": 1}));
        assert_eq!(doc.text().expect("text"), expected);
        assert_eq!(doc.names().take(members::MEMBERS.len()).collect::<Vec<_>>(), members::names().collect::<Vec<_>>());
        assert_eq!(doc.value("riskScore").expect("JSON"), Some(Value::Null));
    }

    #[test]
    fn a_name_given_twice_keeps_its_first_place_and_last_value() {
        let doc = read(r#"{"dyn":1,"other":2,"dyn":3}"#);
        let dynamic: Vec<&str> = doc.names().skip(members::MEMBERS.len()).collect();
        assert_eq!(dynamic, ["dyn", "other"]);
        assert_eq!(doc.value("dyn").expect("JSON"), Some(json!(3)));
    }

    #[test]
    fn escaped_names_and_set_members_are_written_as_json() {
        let mut doc = read(r#"{"we\"ird\\name":true}"#);
        doc.set_all(vec![("new", json!("line\nbreak"))]);
        let text = doc.text().expect("text");
        let back: Map<String, Value> = serde_json::from_str(&text).expect("JSON");
        assert_eq!(back["we\"ird\\name"], json!(true));
        assert_eq!(back["new"], json!("line\nbreak"));
        assert_eq!(back.keys().next_back().map(String::as_str), Some("new"));
    }

    #[test]
    fn only_a_json_object_is_a_document() {
        for text in ["[1]", "\"x\"", "{", "{\"a\":}", ""] {
            assert!(Document::read(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_copied_members_are_those_with_a_column_or_an_index() {
        let text = canonical_text(json!({"id": "p", "azureTenantId": "t", "tags": ["a"], "accounts": [], "dyn": 1}));
        let before = read(&text);
        let mut after = before.clone();
        after.set("displayName", json!("D"));
        let (was, copied) = after.copied_since(&before).expect("JSON");
        assert_eq!((was.get("displayName"), copied.get("displayName")), (Some(&Value::Null), Some(&json!("D"))));
        assert_eq!(was.get("tags"), copied.get("tags"));
        assert_eq!(copied.get("tags"), Some(&json!(["a"])));
        assert_eq!(copied.get("azureTenantId"), Some(&json!("t")));
        assert!(["accounts", "vendorInformation", "dyn"].iter().all(|name| copied.get(name).is_none()));
    }
}
