//! Streaming, parallel reading of a bulk export: every `*.ndjson` and `*.ndjson.gz` under a folder.
//! Gzip files are decompressed one per task; large plain files are split at newlines into chunks so
//! that every core works on them. Each task folds its lines into its own per-patient map, and the maps
//! are merged: memory grows with patients and their events, never with file size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use flate2::read::MultiGzDecoder;
use rayon::prelude::*;

use crate::dates::DayNumber;
use crate::extract::{Diagnosis, LineFact, LineScanner};
use crate::rules::PatientRecord;

/// Plain files larger than this are split into chunks of about this size (the default of `chunk_bytes`).
pub const DEFAULT_CHUNK_BYTES: u64 = 16 * 1024 * 1024;
/// Decompressed bytes handed to the line loop at a time (or `chunk_bytes`, when smaller).
const GZIP_BLOCK_BYTES: usize = 4 * 1024 * 1024;

/// What to do with the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// Extract the facts the screen needs (the normal run).
    Screen,
    /// Only parse every non-empty line as JSON (the benchmark's raw-parse ceiling); no facts are kept.
    ParseOnly,
}

/// Options of one read.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    pub as_of: DayNumber,
    /// Stop at the first malformed line.
    pub strict: bool,
    pub mode: ReadMode,
    /// Plain files are split into chunks of about this many bytes, read in parallel.
    pub chunk_bytes: u64,
}

impl ReadOptions {
    /// Screening as of `as_of`, lenient, with the default chunk size.
    pub fn screen(as_of: DayNumber) -> Self {
        ReadOptions { as_of, strict: false, mode: ReadMode::Screen, chunk_bytes: DEFAULT_CHUNK_BYTES }
    }
}

/// A line that was skipped because it is not a readable resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedLineReport {
    pub file: PathBuf,
    /// 1-based.
    pub line_number: u64,
    pub reason: String,
}

/// Per-patient facts of a whole export, with the counts for the summary.
#[derive(Debug, Default)]
pub struct ExportFacts {
    pub patients: HashMap<Box<str>, PatientRecord>,
    pub files: usize,
    /// Bytes of the files as stored (compressed for `.gz`).
    pub file_bytes: u64,
    /// Bytes of NDJSON after decompression.
    pub ndjson_bytes: u64,
    pub lines: u64,
    /// Sorted by file, then line.
    pub malformed_lines: Vec<MalformedLineReport>,
    /// True when `strict` stopped the read early.
    pub stopped_early: bool,
}

/// A failed read of the export.
#[derive(Debug, thiserror::Error)]
pub enum ReadExportError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ReadExportError + '_ {
    move |source| ReadExportError::Io { path: path.to_path_buf(), source }
}

/// Every `*.ndjson` and `*.ndjson.gz` under `folder`, recursively, sorted by path.
pub fn export_files(folder: &Path) -> Result<Vec<PathBuf>, ReadExportError> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).map_err(io_error(&directory))? {
            let entry = entry.map_err(io_error(&directory))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(io_error(&path))?;
            if file_type.is_dir() {
                pending.push(path);
            } else if is_export_file(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn is_export_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
    name.ends_with(".ndjson") || name.ends_with(".ndjson.gz")
}

fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension == "gz")
}

/// One unit of parallel work.
#[derive(Debug, Clone)]
struct WorkItem {
    file_index: usize,
    /// For plain files: the nominal byte range; lines starting inside it belong to this item.
    start: u64,
    end: u64,
    gzip: bool,
}

/// One task's results.
#[derive(Debug, Default)]
struct Partial {
    patients: HashMap<Box<str>, PatientRecord>,
    ndjson_bytes: u64,
    lines: u64,
    /// (file index, byte offset of the item's first line, line number within the item, reason).
    malformed: Vec<(usize, u64, u64, String)>,
    error: Option<ReadExportError>,
}

thread_local! {
    /// Each worker thread's read buffer, reused across the chunks it reads (saves page faults on every
    /// chunk and keeps one buffer per thread, whatever the number of fold accumulators alive).
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Partial {
    fn merge(mut self, mut other: Partial) -> Partial {
        if other.patients.len() > self.patients.len() {
            std::mem::swap(&mut self.patients, &mut other.patients);
        }
        for (id, record) in other.patients {
            match self.patients.get_mut(&id) {
                Some(existing) => existing.merge(record),
                None => {
                    self.patients.insert(id, record);
                }
            }
        }
        self.ndjson_bytes += other.ndjson_bytes;
        self.lines += other.lines;
        self.malformed.append(&mut other.malformed);
        self.error = self.error.or(other.error);
        self
    }

    fn record(&mut self, patient: &str) -> &mut PatientRecord {
        if !self.patients.contains_key(patient) {
            self.patients.insert(Box::from(patient), PatientRecord::default());
        }
        self.patients.get_mut(patient).expect("just inserted")
    }
}

/// Shared state of one read.
struct ReadContext<'a> {
    files: &'a [PathBuf],
    options: ReadOptions,
    stop: AtomicBool,
    progress: &'a (dyn Fn(u64) + Sync),
}

/// Reads the whole export in parallel on the current rayon pool. `progress` is called with the
/// number of stored bytes consumed since its last call.
pub fn read_export(
    folder: &Path,
    options: ReadOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExportFacts, ReadExportError> {
    let files = export_files(folder)?;
    let mut items = Vec::new();
    let mut file_bytes = 0;
    for (file_index, path) in files.iter().enumerate() {
        let length = std::fs::metadata(path).map_err(io_error(path))?.len();
        file_bytes += length;
        if is_gzip(path) {
            items.push(WorkItem { file_index, start: 0, end: length, gzip: true });
        } else {
            let mut start = 0;
            while start < length {
                let end = (start + options.chunk_bytes.max(1)).min(length);
                items.push(WorkItem { file_index, start, end, gzip: false });
                start = end;
            }
        }
    }
    // Biggest first, so that a large gzip file does not start last.
    items.sort_by_key(|item| std::cmp::Reverse(item.end - item.start));
    let context = ReadContext { files: &files, options, stop: AtomicBool::new(false), progress };
    // One item per job (`with_max_len(1)`): rayon's adaptive splitting would otherwise leave a run of
    // items (two large gzip files, say) to one thread while the other idles.
    let partial = items
        .par_iter()
        .with_max_len(1)
        .fold(Partial::default, |mut partial, item| {
            if partial.error.is_none()
                && !context.stop.load(Ordering::Relaxed)
                && let Err(error) = read_item(&context, item, &mut partial)
            {
                partial.error = Some(error);
            }
            partial
        })
        .reduce(Partial::default, Partial::merge);
    if let Some(error) = partial.error {
        return Err(error);
    }
    let malformed_lines = locate_malformed_lines(&files, partial.malformed)?;
    Ok(ExportFacts {
        patients: partial.patients,
        files: files.len(),
        file_bytes,
        ndjson_bytes: partial.ndjson_bytes,
        lines: partial.lines,
        stopped_early: context.stop.load(Ordering::Relaxed),
        malformed_lines,
    })
}

/// Turns item-relative line numbers into file line numbers by counting the newlines before each
/// item that had a malformed line (rare, so the extra read is cheap in practice).
fn locate_malformed_lines(
    files: &[PathBuf],
    mut malformed: Vec<(usize, u64, u64, String)>,
) -> Result<Vec<MalformedLineReport>, ReadExportError> {
    malformed.sort_by_key(|entry| (entry.0, entry.1, entry.2));
    let mut newlines_before: HashMap<(usize, u64), u64> = HashMap::new();
    let mut reports = Vec::with_capacity(malformed.len());
    for (file_index, item_start, line_in_item, reason) in malformed {
        let path = &files[file_index];
        let before = match newlines_before.get(&(file_index, item_start)) {
            Some(count) => *count,
            None => {
                let count = count_newlines_before(path, item_start).map_err(io_error(path))?;
                newlines_before.insert((file_index, item_start), count);
                count
            }
        };
        reports.push(MalformedLineReport { file: path.clone(), line_number: before + line_in_item, reason });
    }
    Ok(reports)
}

fn count_newlines_before(path: &Path, offset: u64) -> io::Result<u64> {
    if offset == 0 {
        return Ok(0);
    }
    let mut reader = File::open(path)?.take(offset);
    let mut buffer = vec![0u8; 1 << 20];
    let mut count = 0u64;
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            return Ok(count);
        }
        count += memchr::memchr_iter(b'\n', &buffer[..read]).count() as u64;
    }
}

fn read_item(context: &ReadContext, item: &WorkItem, partial: &mut Partial) -> Result<(), ReadExportError> {
    let path = &context.files[item.file_index];
    let scanner = LineScanner::default();
    if item.gzip {
        read_gzip(context, item, path, &scanner, partial).map_err(io_error(path))
    } else {
        read_plain_chunk(context, item, path, &scanner, partial).map_err(io_error(path))
    }
}

/// Reads the lines that start in `[item.start, item.end)` of a plain file.
fn read_plain_chunk(
    context: &ReadContext,
    item: &WorkItem,
    path: &Path,
    scanner: &LineScanner,
    partial: &mut Partial,
) -> io::Result<()> {
    let mut file = File::open(path)?;
    // Start one byte early: if that byte is a newline, a line starts exactly at `start`.
    let read_from = item.start.saturating_sub(1);
    file.seek(SeekFrom::Start(read_from))?;
    let nominal = (item.end - read_from) as usize;
    let mut buffer = READ_BUFFER.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
    buffer.clear();
    buffer.reserve(nominal + 64 * 1024);
    (&mut file).take(nominal as u64).read_to_end(&mut buffer)?;
    // Finish the last line, which may run past `end`.
    if buffer.last() != Some(&b'\n') {
        let mut tail = [0u8; 64 * 1024];
        loop {
            let read = file.read(&mut tail)?;
            if read == 0 {
                break;
            }
            if let Some(at) = memchr::memchr(b'\n', &tail[..read]) {
                buffer.extend_from_slice(&tail[..=at]);
                break;
            }
            buffer.extend_from_slice(&tail[..read]);
        }
    }
    let first_line = if item.start == 0 {
        0
    } else {
        match memchr::memchr(b'\n', &buffer) {
            Some(at) => at + 1,
            None => buffer.len(),
        }
    };
    let first_line_offset = read_from + first_line as u64;
    let lines = &buffer[first_line..];
    partial.ndjson_bytes += lines.len() as u64;
    process_lines(context, scanner, lines, item.file_index, first_line_offset, 0, partial);
    READ_BUFFER.with(|cell| *cell.borrow_mut() = buffer);
    (context.progress)(item.end - item.start);
    Ok(())
}

/// Counts stored bytes as they are read, for the progress bar.
struct CountingReader<'a, R> {
    inner: R,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        (self.progress)(read as u64);
        Ok(read)
    }
}

fn read_gzip(
    context: &ReadContext,
    item: &WorkItem,
    path: &Path,
    scanner: &LineScanner,
    partial: &mut Partial,
) -> io::Result<()> {
    let file =
        CountingReader { inner: BufReader::with_capacity(256 * 1024, File::open(path)?), progress: context.progress };
    let mut decoder = MultiGzDecoder::new(file);
    // A fixed buffer, zeroed once: the decoder fills it (in small reads) up to the end, then the complete
    // lines are processed and the unfinished last line moves to the front.
    let block_bytes = (context.options.chunk_bytes as usize).clamp(1, GZIP_BLOCK_BYTES);
    let mut buffer = vec![0u8; block_bytes];
    let mut filled = 0;
    let mut lines_before = 0u64;
    loop {
        if filled == buffer.len() {
            // A single line longer than the buffer: grow it.
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = decoder.read(&mut buffer[filled..])?;
        filled += read;
        if read == 0 {
            if filled > 0 {
                partial.ndjson_bytes += filled as u64;
                process_lines(context, scanner, &buffer[..filled], item.file_index, 0, lines_before, partial);
            }
            return Ok(());
        }
        if filled < buffer.len() {
            continue;
        }
        let Some(last_newline) = memchr::memrchr(b'\n', &buffer[..filled]) else { continue };
        let complete = &buffer[..=last_newline];
        partial.ndjson_bytes += complete.len() as u64;
        lines_before += process_lines(context, scanner, complete, item.file_index, 0, lines_before, partial);
        buffer.copy_within(last_newline + 1..filled, 0);
        filled -= last_newline + 1;
        if context.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}

/// Runs every line of `bytes` through the extractor; returns the number of lines.
fn process_lines(
    context: &ReadContext,
    scanner: &LineScanner,
    bytes: &[u8],
    file_index: usize,
    item_offset: u64,
    lines_before: u64,
    partial: &mut Partial,
) -> u64 {
    let mut line_number = lines_before;
    let mut line_start = 0;
    let mut lines_here = 0;
    let handle = |line: &[u8], line_number: u64, partial: &mut Partial| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        partial.lines += 1;
        let outcome = match context.options.mode {
            ReadMode::ParseOnly => serde_json::from_slice::<serde::de::IgnoredAny>(line)
                .map(|_| LineFact::Nothing)
                .map_err(|error| crate::extract::MalformedLine {
                    reason: format!("invalid JSON: {}", crate::extract::describe_json_error(&error)),
                }),
            ReadMode::Screen => scanner.extract(line, context.options.as_of),
        };
        match outcome {
            Ok(fact) => apply_fact(fact, partial),
            Err(malformed) => {
                partial.malformed.push((file_index, item_offset, line_number, malformed.reason));
                if context.options.strict {
                    context.stop.store(true, Ordering::Relaxed);
                }
            }
        }
    };
    for newline in memchr::memchr_iter(b'\n', bytes) {
        line_number += 1;
        lines_here += 1;
        handle(&bytes[line_start..newline], line_number, partial);
        line_start = newline + 1;
        if context.options.strict && context.stop.load(Ordering::Relaxed) {
            return lines_here;
        }
    }
    if line_start < bytes.len() {
        line_number += 1;
        lines_here += 1;
        handle(&bytes[line_start..], line_number, partial);
    }
    lines_here
}

fn apply_fact(fact: LineFact, partial: &mut Partial) {
    match fact {
        LineFact::Nothing => {}
        LineFact::Patient { id, birth_date } => {
            let record = partial.record(&id);
            record.has_patient_resource = true;
            record.birth_date = record.birth_date.or(birth_date);
        }
        LineFact::Drug { patient, event } => partial.record(&patient).drug_events.push(event),
        LineFact::Diagnoses { patient, date, kinds } => {
            let record = partial.record(&patient);
            record.diagnoses.extend(kinds.into_iter().map(|kind| Diagnosis { date, kind }));
        }
        LineFact::Phq9 { patient, date, total } => partial.record(&patient).note_phq9(date, total),
    }
}
