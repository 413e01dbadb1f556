//! What a new password must be (OWASP ASVS 4.0.3 §2.1, NIST SP 800-63B §5.1.1.2): 12 to 256 characters,
//! a run of whitespace counting as one; not whitespace alone; not one of the common passwords of the
//! bundled list (`data/common-passwords.txt`, whose provenance is in `data/README.md`). No composition
//! rules and no truncation: a long passphrase is the better password.

use std::collections::HashSet;
use std::sync::OnceLock;

/// ASVS 2.1.1: at least 12 characters (after runs of spaces are combined).
pub(crate) const MINIMUM_PASSWORD_CHARACTERS: usize = 12;

/// Longer is refused so that hashing cost stays bounded (ASVS 2.1.2 asks for at least 64 allowed).
pub(crate) const MAXIMUM_PASSWORD_CHARACTERS: usize = 256;

/// The bundled list, most common first, lowercase.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidPassword {
    #[error(
        "must be {MINIMUM_PASSWORD_CHARACTERS} to {MAXIMUM_PASSWORD_CHARACTERS} characters (a run of spaces counts as one), got {characters}"
    )]
    Length { characters: usize },
    #[error("must not be whitespace only")]
    WhitespaceOnly,
    #[error("is one of the most common passwords; choose a longer passphrase of your own")]
    Common,
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().filter(|line| !line.is_empty()).collect())
}

/// Characters, with each run of whitespace counted once.
fn characters_with_whitespace_runs_combined(password: &str) -> usize {
    let mut count = 0;
    let mut in_whitespace = false;
    for character in password.chars() {
        let whitespace = character.is_whitespace();
        if !(whitespace && in_whitespace) {
            count += 1;
        }
        in_whitespace = whitespace;
    }
    count
}

/// Whether `password` is on the common list: lowercased and trimmed, or with its whitespace removed.
pub(crate) fn is_common_password(password: &str) -> bool {
    let lowered = password.trim().to_lowercase();
    let squeezed: String = lowered.chars().filter(|character| !character.is_whitespace()).collect();
    let list = common_passwords();
    list.contains(lowered.as_str()) || list.contains(squeezed.as_str())
}

/// Checks a password being set (a new account's, or a change).
pub(crate) fn check_new_password(password: &str) -> Result<(), InvalidPassword> {
    if password.chars().all(char::is_whitespace) {
        return Err(InvalidPassword::WhitespaceOnly);
    }
    let characters = characters_with_whitespace_runs_combined(password);
    if !(MINIMUM_PASSWORD_CHARACTERS..=MAXIMUM_PASSWORD_CHARACTERS).contains(&characters) {
        return Err(InvalidPassword::Length { characters });
    }
    if is_common_password(password) {
        return Err(InvalidPassword::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str, expected: Result<(), InvalidPassword>) {
        assert_eq!(check_new_password(password), expected, "{password:?}");
    }

    #[test]
    fn new_passwords() {
        use InvalidPassword::*;
        check("correct horse battery staple", Ok(()));
        check("twelve chars", Ok(()));
        check(&"x".repeat(256), Ok(()));
        check(&" ".repeat(12), Err(WhitespaceOnly));
        check(&"\t \u{a0}".repeat(10), Err(WhitespaceOnly));
        check("", Err(WhitespaceOnly));
        check("eleven char", Err(Length { characters: 11 }));
        check("a          b          c", Err(Length { characters: 5 }));
        check(&"x".repeat(257), Err(Length { characters: 257 }));
        check("qwertyuiop12", Err(Common));
        check("Password1234", Err(Common));
        check("  1qaz2wsx3edc  ", Err(Common));
        check("1qaz 2wsx 3edc", Err(Common));
        check("123456789012", Err(Common));
    }

    #[test]
    fn the_bundled_list_is_read_whole() {
        let list = common_passwords();
        assert_eq!(list.len(), 49_233);
        assert!(list.contains("123456") && list.contains("1qaz2wsx3edc"));
        assert!(list.iter().all(|entry| *entry == entry.to_lowercase() && *entry == entry.trim()));
    }
}
