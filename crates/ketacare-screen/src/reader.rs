//! Streaming, parallel reading of a bulk export: every `*.ndjson` and `*.ndjson.gz` under a folder.
//! Gzip files are decompressed one per task; large plain files are split at newlines into chunks so
//! that every core works on them. Each task folds its lines into its own per-patient map, and the maps
//! are merged: memory grows with patients and their events, never with file size. Each chunk also
//! counts its lines, so that a malformed line's number is known without reading the file again.

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
/// A chunk that ends inside a line reads on to the line's end in steps of this size (or `chunk_bytes`,
/// when smaller), doubling up to `LAST_LINE_MAX_STEP_BYTES` for a long line.
const LAST_LINE_FIRST_STEP_BYTES: usize = 4 * 1024;
const LAST_LINE_MAX_STEP_BYTES: usize = 1024 * 1024;
/// The UTF-8 byte-order mark, ignored at the start of a file (RFC 8259 §8.1).
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

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
    /// Bytes read from the files, counting a byte as often as it was read (a chunk reads on past its
    /// end to finish its last line; under `strict`, numbering a malformed line may count the lines of
    /// chunks the read skipped): over `file_bytes`, the read amplification.
    pub stored_bytes_read: u64,
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
    stored_bytes_read: u64,
    lines: u64,
    malformed: Vec<MalformedInItem>,
    /// The lines of each plain-file chunk read to its end.
    chunk_lines: Vec<ChunkLines>,
    error: Option<ReadExportError>,
}

/// A malformed line, numbered within its work item until the items' line counts are added up.
#[derive(Debug)]
struct MalformedInItem {
    file_index: usize,
    /// The item's nominal start (0 for a gzip file, whose lines are numbered from the file's start).
    item_start: u64,
    /// 1-based, within the item.
    line_in_item: u64,
    reason: String,
}

/// How many lines start in a plain-file chunk's nominal range.
#[derive(Debug)]
struct ChunkLines {
    file_index: usize,
    start: u64,
    line_starts: u64,
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
        self.stored_bytes_read += other.stored_bytes_read;
        self.lines += other.lines;
        self.malformed.append(&mut other.malformed);
        self.chunk_lines.append(&mut other.chunk_lines);
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
    let numbered = number_malformed_lines(&files, &items, &partial.chunk_lines, partial.malformed)?;
    Ok(ExportFacts {
        patients: partial.patients,
        files: files.len(),
        file_bytes,
        ndjson_bytes: partial.ndjson_bytes,
        stored_bytes_read: partial.stored_bytes_read + numbered.stored_bytes_read,
        lines: partial.lines,
        stopped_early: context.stop.load(Ordering::Relaxed),
        malformed_lines: numbered.reports,
    })
}

/// Malformed lines with their file line numbers.
struct NumberedMalformedLines {
    /// Sorted by file, then line.
    reports: Vec<MalformedLineReport>,
    /// Bytes read to count the lines of chunks that a strict read stopped in or skipped.
    stored_bytes_read: u64,
}

/// Turns item line numbers into file line numbers: the lines before a chunk are the lines of the
/// file's earlier chunks, counted by the parallel pass. Only a chunk that a strict read stopped in or
/// skipped, before a malformed line of the same file, has its lines counted here from the file.
fn number_malformed_lines(
    files: &[PathBuf],
    items: &[WorkItem],
    chunk_lines: &[ChunkLines],
    mut malformed: Vec<MalformedInItem>,
) -> Result<NumberedMalformedLines, ReadExportError> {
    malformed.sort_by_key(|line| (line.file_index, line.item_start, line.line_in_item));
    let counted: HashMap<(usize, u64), u64> =
        chunk_lines.iter().map(|chunk| ((chunk.file_index, chunk.start), chunk.line_starts)).collect();
    let mut numbered = NumberedMalformedLines { reports: Vec::with_capacity(malformed.len()), stored_bytes_read: 0 };
    let mut remaining = malformed.into_iter().peekable();
    while let Some(first) = remaining.peek() {
        let file_index = first.file_index;
        let path = &files[file_index];
        let mut chunks: Vec<&WorkItem> =
            items.iter().filter(|item| item.file_index == file_index && !item.gzip).collect();
        chunks.sort_by_key(|chunk| chunk.start);
        let mut chunks = chunks.into_iter();
        // Lines that start before `counted_to`, the start of the next chunk to count.
        let mut lines_before = 0;
        let mut counted_to = 0;
        while let Some(line) = remaining.next_if(|line| line.file_index == file_index) {
            while counted_to < line.item_start {
                let Some(chunk) = chunks.next() else { break };
                lines_before += match counted.get(&(file_index, chunk.start)) {
                    Some(line_starts) => *line_starts,
                    None => {
                        let counted_now = count_line_starts(path, chunk.start, chunk.end).map_err(io_error(path))?;
                        numbered.stored_bytes_read += counted_now.stored_bytes_read;
                        counted_now.line_starts
                    }
                };
                counted_to = chunk.end;
            }
            numbered.reports.push(MalformedLineReport {
                file: path.clone(),
                line_number: lines_before + line.line_in_item,
                reason: line.reason,
            });
        }
    }
    Ok(numbered)
}

/// Lines counted from a file.
struct CountedLineStarts {
    line_starts: u64,
    stored_bytes_read: u64,
}

/// How many lines start at offsets in `[start, end)` of a file (`end` at most its length): offset 0,
/// and the offset after each newline at `[start - 1, end - 1)`. The same count as the chunk's line loop.
fn count_line_starts(path: &Path, start: u64, end: u64) -> io::Result<CountedLineStarts> {
    let mut file = File::open(path)?;
    let from = start.saturating_sub(1);
    file.seek(SeekFrom::Start(from))?;
    let mut reader = file.take((end - 1).saturating_sub(from));
    let mut buffer = vec![0u8; 1 << 20];
    let mut counted = CountedLineStarts { line_starts: u64::from(start == 0), stored_bytes_read: 0 };
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            return Ok(counted);
        }
        counted.stored_bytes_read += read as u64;
        counted.line_starts += memchr::memchr_iter(b'\n', &buffer[..read]).count() as u64;
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
    buffer.reserve(nominal + LAST_LINE_FIRST_STEP_BYTES);
    partial.stored_bytes_read += (&mut file).take(nominal as u64).read_to_end(&mut buffer)? as u64;
    // The first line that starts in the range: the file's first line, or the one after the first newline.
    let first_line = match item.start {
        0 => Some(0),
        _ => memchr::memchr(b'\n', &buffer).map(|at| at + 1).filter(|&line_start| line_start < buffer.len()),
    };
    let chunk_lines = match first_line {
        // The whole range lies inside a line that starts in an earlier chunk, which reads it: nothing
        // to read on for (reading to the line's end from every chunk it spans made long lines quadratic).
        None => LinesRead { lines: 0, finished: true },
        Some(first_line) => {
            if buffer.last() != Some(&b'\n') {
                read_to_the_end_of_the_line(&mut file, &mut buffer, context.options.chunk_bytes, partial)?;
            }
            let mut lines = &buffer[first_line..];
            if item.start == 0 {
                lines = lines.strip_prefix(BYTE_ORDER_MARK).unwrap_or(lines);
            }
            partial.ndjson_bytes += lines.len() as u64;
            process_lines(context, scanner, lines, item.file_index, item.start, 0, partial)
        }
    };
    if chunk_lines.finished {
        partial.chunk_lines.push(ChunkLines {
            file_index: item.file_index,
            start: item.start,
            line_starts: chunk_lines.lines,
        });
    }
    // Keep the buffer for the thread's next chunk, unless a long line grew it far past a chunk's size.
    if buffer.capacity() <= 2 * (nominal + LAST_LINE_MAX_STEP_BYTES) {
        READ_BUFFER.with(|cell| *cell.borrow_mut() = buffer);
    }
    (context.progress)(item.end - item.start);
    Ok(())
}

/// Appends the rest of the buffer's last line (up to and including its newline, or to the end of the
/// file), reading in growing steps and searching only the bytes just read.
fn read_to_the_end_of_the_line(
    file: &mut File,
    buffer: &mut Vec<u8>,
    chunk_bytes: u64,
    partial: &mut Partial,
) -> io::Result<()> {
    let mut step = usize::try_from(chunk_bytes).unwrap_or(usize::MAX).clamp(1, LAST_LINE_FIRST_STEP_BYTES);
    loop {
        let searched_to = buffer.len();
        buffer.resize(searched_to + step, 0);
        let read = file.read(&mut buffer[searched_to..])?;
        buffer.truncate(searched_to + read);
        partial.stored_bytes_read += read as u64;
        if read == 0 {
            return Ok(());
        }
        if let Some(at) = memchr::memchr(b'\n', &buffer[searched_to..]) {
            buffer.truncate(searched_to + at + 1);
            return Ok(());
        }
        step = (step * 2).min(LAST_LINE_MAX_STEP_BYTES);
    }
}

/// Counts stored bytes as they are read, for the progress bar and the summary.
struct CountingReader<'a, R> {
    inner: R,
    progress: &'a (dyn Fn(u64) + Sync),
    bytes_read: u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.bytes_read += read as u64;
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
    let file = CountingReader {
        inner: BufReader::with_capacity(256 * 1024, File::open(path)?),
        progress: context.progress,
        bytes_read: 0,
    };
    let mut decoder = MultiGzDecoder::new(file);
    let result = read_gzip_lines(context, item, &mut decoder, scanner, partial);
    partial.stored_bytes_read += decoder.get_ref().bytes_read;
    result
}

fn read_gzip_lines(
    context: &ReadContext,
    item: &WorkItem,
    decoder: &mut impl Read,
    scanner: &LineScanner,
    partial: &mut Partial,
) -> io::Result<()> {
    // A fixed buffer, zeroed once: the decoder fills it (in small reads) up to the end, then the complete
    // lines are processed and the unfinished last line moves to the front.
    let block_bytes = (context.options.chunk_bytes as usize).clamp(1, GZIP_BLOCK_BYTES);
    let mut buffer = vec![0u8; block_bytes];
    let mut filled = 0;
    let mut lines_before = 0u64;
    let mut at_file_start = true;
    loop {
        if filled == buffer.len() {
            // A single line longer than the buffer: grow it.
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = decoder.read(&mut buffer[filled..])?;
        filled += read;
        if at_file_start && (filled >= BYTE_ORDER_MARK.len() || read == 0) {
            at_file_start = false;
            if buffer[..filled].starts_with(BYTE_ORDER_MARK) {
                buffer.copy_within(BYTE_ORDER_MARK.len()..filled, 0);
                filled -= BYTE_ORDER_MARK.len();
            }
        }
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
        lines_before += process_lines(context, scanner, complete, item.file_index, 0, lines_before, partial).lines;
        buffer.copy_within(last_newline + 1..filled, 0);
        filled -= last_newline + 1;
        if context.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}

/// The lines a call of `process_lines` went through.
#[derive(Debug, Clone, Copy)]
struct LinesRead {
    /// Blank lines included.
    lines: u64,
    /// False when a strict read stopped before the last line.
    finished: bool,
}

/// Runs every line of `bytes` through the extractor. Malformed lines are numbered from
/// `lines_before + 1` within the item that starts at `item_start`.
fn process_lines(
    context: &ReadContext,
    scanner: &LineScanner,
    bytes: &[u8],
    file_index: usize,
    item_start: u64,
    lines_before: u64,
    partial: &mut Partial,
) -> LinesRead {
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
                partial.malformed.push(MalformedInItem {
                    file_index,
                    item_start,
                    line_in_item: line_number,
                    reason: malformed.reason,
                });
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
            return LinesRead { lines: lines_here, finished: false };
        }
    }
    if line_start < bytes.len() {
        line_number += 1;
        lines_here += 1;
        handle(&bytes[line_start..], line_number, partial);
    }
    LinesRead { lines: lines_here, finished: true }
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
