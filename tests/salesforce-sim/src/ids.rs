//! Salesforce record ids: 15 case-sensitive characters (3-char key prefix, 2-char pod, 1
//! reserved, 9-char base-62 counter) plus a 3-character case-insensitive checksum that makes
//! the 18-character form. The simulator always answers 18-character ids and accepts both forms.

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The pod and reserved characters of every id the simulator mints (`5f` + `0`, as in the ids
/// of the public examples).
const POD: &str = "5f0";

/// The id number `sequence` of an object with key prefix `prefix`, in 18-character form.
pub fn mint(prefix: &str, sequence: u64) -> String {
    let mut counter = [b'0'; 9];
    let mut rest = sequence;
    for slot in counter.iter_mut().rev() {
        *slot = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    let counter = String::from_utf8_lossy(&counter);
    to18(&format!("{prefix}{POD}{counter}"))
}

/// Appends the checksum to a 15-character id: per 5-character chunk, one bit per upper-case
/// letter, mapped through `A-Z0-5`.
fn to18(id15: &str) -> String {
    let mut id = id15.to_string();
    for chunk in id15.as_bytes().chunks(5) {
        let flags = chunk
            .iter()
            .enumerate()
            .filter(|(_, byte)| byte.is_ascii_uppercase())
            .fold(0usize, |flags, (bit, _)| flags | (1 << bit));
        id.push(SUFFIX_ALPHABET[flags] as char);
    }
    id
}

/// The 18-character form of a 15- or 18-character alphanumeric id, or `None` when the text is
/// not shaped like an id. An 18-character id is re-derived from its first 15 characters, so a
/// checksum in the wrong case still names the same record (as in Salesforce).
pub fn normalize(text: &str) -> Option<String> {
    if !text.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return None;
    }
    match text.len() {
        15 | 18 => Some(to18(&text[..15])),
        _ => None,
    }
}

/// The key prefix (first three characters) of a well-formed id.
pub fn prefix(id: &str) -> &str {
    id.get(..3).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_salesforce() {
        // A well-known pair from Salesforce's documentation and forums.
        assert_eq!(
            normalize("001A000000Is7Ah").as_deref(),
            Some("001A000000Is7AhIAJ")
        );
        assert_eq!(
            normalize("001A000000Is7AhIAJ").as_deref(),
            Some("001A000000Is7AhIAJ")
        );
        assert_eq!(normalize("001A000000Is7A"), None);
        assert_eq!(normalize("001A000000Is7A'"), None);
    }

    #[test]
    fn minted_ids_are_distinct_and_prefixed() {
        let first = mint("a0A", 1);
        let second = mint("a0A", 62);
        assert_eq!(first.len(), 18);
        assert!(first.starts_with("a0A5f0000000001"));
        assert!(second.starts_with("a0A5f0000000010"));
        assert_eq!(normalize(&first[..15]), Some(first));
    }
}
