//! Session notes: who must have a note co-signed (`[notes]` of the site protocol), and the SHA-256 a
//! signature records of the exact text signed. The text itself is assembled and stored elsewhere.

use sha2::{Digest as _, Sha256};

use crate::protocol::{InvalidProtocol, SectionReader, Setting};

/// The roles whose notes a protocol may ask to be co-signed (the staff roles that write notes).
pub const NOTE_AUTHOR_ROLES: &[&str] = &["nurse", "prescriber"];

/// The rule id of a refused change to a signed note (PROJECT DEFAULT, clinical-reference §4).
pub const SIGNED_NOTE_LOCKED: &str = "SIGNED_NOTE_LOCKED";
/// The rule id of a refused co-signature by the note's own author (PROJECT DEFAULT, clinical-reference §4).
pub const COSIGNER_IS_AUTHOR: &str = "COSIGNER_IS_AUTHOR";

/// The `[notes]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteSettings {
    /// The roles whose signed notes need a prescriber's co-signature (PROJECT DEFAULT, clinical-reference §4).
    pub cosignature_required_for_roles: Setting<Vec<String>>,
}

impl NoteSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = NoteSettings {
            cosignature_required_for_roles: section
                .take_word_list("cosignature_required_for_roles", NOTE_AUTHOR_ROLES)?,
        };
        section.finish()?;
        Ok(settings)
    }

    /// Whether a note signed by an author of `author_role` needs a prescriber's co-signature.
    pub fn cosignature_required(&self, author_role: &str) -> bool {
        self.cosignature_required_for_roles.value.iter().any(|role| role == author_role)
    }
}

/// Lower-case hex SHA-256 of the note text's UTF-8 bytes, exactly as stored (no normalisation: what
/// was signed is what is hashed).
pub fn note_text_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Protocol, SHIPPED_PROTOCOL_TOML};

    #[test]
    fn the_shipped_protocol_asks_for_a_cosignature_of_nurses_notes_only() {
        let notes = Protocol::shipped().notes;
        let cases = [("nurse", true), ("prescriber", false), ("admin", false)];
        let wrong: Vec<_> =
            cases.iter().filter(|(role, expected)| notes.cosignature_required(role) != *expected).collect();
        assert!(wrong.is_empty(), "{wrong:?}");
    }

    #[test]
    fn a_bad_role_list_is_refused_by_its_item() {
        let cases = [
            (
                "[\"nurse\", \"admin\"]",
                "notes.cosignature_required_for_roles[1]: must be one of nurse, prescriber, got \"admin\"",
            ),
            ("[\"nurse\", \"nurse\"]", "notes.cosignature_required_for_roles[1]: \"nurse\" is listed twice"),
            (
                "\"nurse\"",
                "notes.cosignature_required_for_roles: must be a list of words from nurse, prescriber, got \"nurse\"",
            ),
        ];
        let mut problems = Vec::new();
        for (value, expected) in cases {
            let edited = SHIPPED_PROTOCOL_TOML.replacen(
                "cosignature_required_for_roles = { value = [\"nurse\"]",
                &format!("cosignature_required_for_roles = {{ value = {value}"),
                1,
            );
            match Protocol::parse(&edited) {
                Err(error) if error.to_string() == expected => {}
                other => problems.push(format!("{value}: {other:?}")),
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
        let none = SHIPPED_PROTOCOL_TOML.replacen("value = [\"nurse\"]", "value = []", 1);
        assert!(!Protocol::parse(&none).unwrap().notes.cosignature_required("nurse"));
    }

    #[test]
    fn the_hash_is_of_the_exact_bytes() {
        assert_eq!(note_text_sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_ne!(note_text_sha256("BP 120/80"), note_text_sha256("BP 120/80 "));
    }
}
