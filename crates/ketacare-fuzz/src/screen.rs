//! The screen's NDJSON reading (ketacare-screen): the byte-scanning line extractor on any line and on
//! each resource type it reads, the extractor against a full serde_json parse of the same line, and
//! whole exports through the real folder reader, plain (split into chunks) against gzip (in members).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use flate2::Compression;
use flate2::write::GzEncoder;
use ketacare_screen::dates::{DayNumber, parse_date_prefix};
use ketacare_screen::extract::{LineFact, LineScanner};
use ketacare_screen::{Preset, ReadOptions, ScreenParameters, screen_export};
use serde_json::Value;

/// The screen's `as_of` in these checks.
fn as_of() -> DayNumber {
    parse_date_prefix("2026-12-01").expect("a valid date")
}

fn scanner() -> &'static LineScanner {
    static SCANNER: OnceLock<LineScanner> = OnceLock::new();
    SCANNER.get_or_init(LineScanner::default)
}

/// The resource types the screen reads, in the order of the per-type targets.
pub const RESOURCE_TYPES: [&str; 7] = [
    "Patient",
    "Condition",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationStatement",
    "MedicationAdministration",
    "Observation",
];

/// One line through the extractor: any answer but a panic; a line the pre-scan rules out is never a fact.
pub fn screen_line(line: &[u8]) {
    let extracted = scanner().extract(line, as_of());
    if scanner().is_skipped_by_prescan(line) {
        assert!(
            matches!(extracted, Ok(LineFact::Nothing) | Err(_)),
            "a line the pre-scan skips gave a fact: {extracted:?}"
        );
    }
}

/// `{"resourceType":"<type>",` followed by the input: the extractor's reading of one resource type,
/// checked alone and against serde_json.
pub fn screen_resource(resource_type: &str, rest: &[u8]) {
    let mut line = format!("{{\"resourceType\":\"{resource_type}\",").into_bytes();
    line.extend_from_slice(rest);
    screen_line(&line);
    screen_line_vs_serde(&line);
}

/// Whether an object anywhere in the line gives a key twice: serde_json's `Value` keeps the last one,
/// a derived struct refuses the line and the byte scan reads the first; RFC 8259 leaves such a
/// document's meaning open, so the paths need not agree on it.
fn repeats_a_key(line: &[u8]) -> bool {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    !matches!(serde::Deserializer::deserialize_any(&mut deserializer, UniqueKeys), Ok(true))
}

/// Walks a JSON value; `true` when no object in it repeats a key.
struct UniqueKeys;

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = bool;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<bool, A::Error> {
        let mut unique = true;
        while let Some(item_unique) = items.next_element_seed(UniqueKeysSeed)? {
            unique &= item_unique;
        }
        Ok(unique)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut keys = std::collections::HashSet::new();
        let mut unique = true;
        while let Some(key) = map.next_key::<String>()? {
            // serde_json's arbitrary_precision hands a number over as a one-entry map with this key.
            if key == "$serde_json::private::Number" {
                map.next_value::<serde::de::IgnoredAny>()?;
                return Ok(true);
            }
            unique &= keys.insert(key);
            unique &= map.next_value_seed(UniqueKeysSeed)?;
        }
        Ok(unique)
    }
}

struct UniqueKeysSeed;

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeysSeed {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

/// The byte-scanning extractor against a full serde_json parse of the same line, wherever the line
/// is valid JSON (keys unique): a line that is not an object, or has no top-level `resourceType`
/// string, is malformed; a type the screen does not read gives nothing; and a type it reads gives
/// the same fact (or none) as the line written back by serde_json (keys reordered, white space and
/// escapes normalised), which moves `resourceType` and spells every string plainly.
pub fn screen_line_vs_serde(line: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(line) else { return };
    if repeats_a_key(line) {
        return;
    }
    let extracted = scanner().extract(line, as_of());
    let resource_type = value.as_object().and_then(|object| object.get("resourceType")).and_then(Value::as_str);
    match resource_type {
        None => assert!(extracted.is_err(), "no top-level resourceType string, but the line gave {extracted:?}"),
        Some(resource_type) if !RESOURCE_TYPES.contains(&resource_type) => {
            assert_eq!(extracted, Ok(LineFact::Nothing), "a {resource_type} line is not read")
        }
        Some(_) => {
            let rewritten = serde_json::to_vec(&value).expect("a value serialises");
            let again = scanner().extract(&rewritten, as_of());
            // The facts must be the same. A refusal and `Nothing` both give none: an Observation the
            // pre-scan drops is only checked for its shape, so a field of the wrong type refuses the
            // line when an escape sends it to the parser and passes unseen when the rewrite does not.
            let fact = |outcome: &Result<LineFact, _>| match outcome {
                Ok(LineFact::Nothing) | Err(_) => None,
                Ok(fact) => Some(format!("{fact:?}")),
            };
            assert_eq!(
                fact(&extracted),
                fact(&again),
                "the line gave {extracted:?}, rewritten by serde it gave {again:?}"
            );
        }
    }
}

/// A folder of its own for each thread's export files (in memory where /dev/shm exists).
fn scratch_folder() -> PathBuf {
    thread_local! {
        static FOLDER: tempfile::TempDir = {
            let shm = std::path::Path::new("/dev/shm");
            let builder = tempfile::Builder::new().prefix("ketacare-fuzz-").tempdir_in(if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() });
            builder.expect("a scratch folder")
        };
    }
    FOLDER.with(|folder| folder.path().to_path_buf())
}

/// A whole export through `screen_export` (first byte: the plain file's number of chunks and the preset;
/// second: where the gzip file is cut into two members; the rest: the NDJSON). The plain file read
/// in small chunks and the same lines in a two-member gzip file must give the same rows, line count
/// and malformed lines (numbered alike).
pub fn screen_export_framing(data: &[u8]) {
    let [chunk_selector, cut_selector, ndjson @ ..] = data else { return };
    let preset = Preset::ALL[usize::from(*chunk_selector) % Preset::ALL.len()];
    // 1 to 32 chunks: chunk edges land anywhere in a line, and an input costs at most 32 reads.
    let chunks = u64::from(chunk_selector / 8) + 1;
    let chunk_bytes = (ndjson.len() as u64).div_ceil(chunks).max(1);
    let cut = ndjson.len() * usize::from(*cut_selector) / 255;
    let mut gzip = Vec::new();
    for member in [&ndjson[..cut], &ndjson[cut..]] {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(member).expect("in memory");
        gzip.extend(encoder.finish().expect("in memory"));
    }
    let folder = scratch_folder();
    let parameters = ScreenParameters::for_preset(preset);
    let read = |file_name: &str, bytes: &[u8], chunk_bytes: u64| {
        let export = folder.join("export");
        let _ = std::fs::remove_dir_all(&export);
        std::fs::create_dir_all(&export).expect("a scratch export folder");
        std::fs::write(export.join(file_name), bytes).expect("a scratch export file");
        let options = ReadOptions { chunk_bytes, ..ReadOptions::screen(as_of()) };
        screen_export(&export, &parameters, options, &|_| {}).expect("a readable export")
    };
    let plain = read("part.ndjson", ndjson, chunk_bytes);
    let gzipped = read("part.ndjson.gz", &gzip, chunk_bytes);
    assert_eq!(plain.rows, gzipped.rows, "plain and gzip rows differ");
    assert_eq!(plain.facts_summary.lines, gzipped.facts_summary.lines, "plain and gzip line counts differ");
    assert_eq!(
        plain.facts_summary.ndjson_bytes, gzipped.facts_summary.ndjson_bytes,
        "plain and gzip NDJSON bytes differ"
    );
    let malformed = |report: &ketacare_screen::ScreenReport| -> Vec<(u64, String)> {
        report.facts_summary.malformed_lines.iter().map(|line| (line.line_number, line.reason.clone())).collect()
    };
    assert_eq!(malformed(&plain), malformed(&gzipped), "plain and gzip malformed lines differ");
}

/// Any bytes as a `.ndjson.gz` file: a damaged stream is a read error, never a panic.
pub fn screen_gzip_bytes(data: &[u8]) {
    let export = scratch_folder().join("gzip");
    let _ = std::fs::remove_dir_all(&export);
    std::fs::create_dir_all(&export).expect("a scratch export folder");
    std::fs::write(export.join("part.ndjson.gz"), data).expect("a scratch export file");
    let parameters = ScreenParameters::for_preset(Preset::Label);
    let _ = screen_export(&export, &parameters, ReadOptions::screen(as_of()), &|_| {});
}
