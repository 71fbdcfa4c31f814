//! Where the command line's input comes from, read in bounded memory.
//!
//! A saved event or document (gzip, or text that starts like JSON) is read whole, up to the
//! decompression cap, as one CloudWatch Logs batch can be no larger; anything longer is refused
//! with that limit named. Plain log lines are streamed: each line is read up to
//! [`MAX_LINE_BYTES`] (the longest event CloudWatch Logs accepts; the rest of a longer line is
//! skipped, with a warning), and lines are handed on in chunks of at most [`CHUNK_BYTES`], so a
//! file of any size is read in a few tens of MiB. Bytes that are not text (a NUL, as
//! `/dev/zero` gives forever) end the read with an error at once.

use std::io::IsTerminal as _;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use lambda_troubleshooter::ingest::input::InputError;

use crate::error::CliError;

/// The longest line read: CloudWatch Logs' limit for one event.
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// The most text handed on as one chunk of lines (one batch).
pub const CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// What the input is.
pub enum Source {
    /// A saved event or document, read whole.
    Whole(Vec<u8>),
    /// Log lines, to be read in chunks ([`Lines::next_chunk`]).
    Lines(Lines),
}

/// What a bare command on a terminal says instead of waiting for input that is not coming.
pub const NO_INPUT_HINT: &str = "no input: give a file (troubleshooter scan events/mixed-batch.json), pipe log lines in (aws logs tail GROUP | troubleshooter scan), or `-` to type or paste them (end with Ctrl-D)";

/// Opens `file` (or stdin for `-` or nothing) and tells a saved event from log lines by its
/// first bytes; an event or document over `limit` bytes is refused.
///
/// # Errors
///
/// [`CliError::NoInput`] when it cannot be read or is too large.
pub fn open(file: Option<&PathBuf>, limit: usize) -> Result<Source, CliError> {
    let (name, reader): (String, Box<dyn Read>) = match file {
        Some(path) if path.as_os_str() != "-" => {
            let opened = std::fs::File::open(path)
                .map_err(|e| CliError::NoInput(format!("cannot read {}: {e}", path.display())))?;
            (path.display().to_string(), Box::new(opened))
        }
        Some(_) => {
            if std::io::stdin().is_terminal() {
                eprintln!("troubleshooter: reading log lines from the terminal; end with Ctrl-D");
            }
            ("stdin".to_owned(), Box::new(std::io::stdin()))
        }
        // Nothing named and nothing piped: a person typed the bare command.
        None if std::io::stdin().is_terminal() => return Err(CliError::Usage(NO_INPUT_HINT.to_owned())),
        None => ("stdin".to_owned(), Box::new(std::io::stdin())),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let unreadable = |e: std::io::Error| CliError::NoInput(format!("cannot read {name}: {e}"));
    // Skip leading white space a chunk at a time to see the first byte that says what it is.
    let first = loop {
        let buffer = reader.fill_buf().map_err(unreadable)?;
        if buffer.is_empty() {
            break None;
        }
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => break Some(buffer[at]),
            None => {
                let len = buffer.len();
                reader.consume(len);
            }
        }
    };
    if !matches!(first, Some(0x1f | b'{' | b'[')) {
        return Ok(Source::Lines(Lines { reader, name, line_number: 0, cut_lines: 0 }));
    }
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() > limit {
        return Err(CliError::NoInput(format!(
            "{name} is a saved event or document over {limit} bytes (MAX_DECOMPRESSED_BYTES), larger than any CloudWatch Logs batch: split it, or pass plain log lines, which are read in chunks"
        )));
    }
    Ok(Source::Whole(bytes))
}

/// Reads the whole input (for `encode`, whose output is one event), up to `limit` bytes.
///
/// # Errors
///
/// [`CliError::NoInput`] when it cannot be read or is longer than `limit`.
pub fn read_whole(file: Option<&PathBuf>, limit: usize) -> Result<Vec<u8>, CliError> {
    match open(file, limit)? {
        Source::Whole(bytes) => Ok(bytes),
        Source::Lines(mut lines) => {
            let mut text = Vec::new();
            while let Some(chunk) = lines.next_chunk()? {
                for line in chunk {
                    text.extend_from_slice(line.as_bytes());
                    text.push(b'\n');
                }
                if text.len() > limit {
                    return Err(CliError::NoInput(format!(
                        "{} holds more than {limit} bytes of lines (MAX_DECOMPRESSED_BYTES): too many for one event",
                        lines.name
                    )));
                }
            }
            Ok(text)
        }
    }
}

/// Log lines, read in chunks.
pub struct Lines {
    reader: BufReader<Box<dyn Read>>,
    name: String,
    line_number: usize,
    /// Lines cut at [`MAX_LINE_BYTES`] so far.
    pub cut_lines: usize,
}

impl Lines {
    /// The next lines, at most [`CHUNK_BYTES`] of them (blank ones left out); `None` at the end.
    ///
    /// # Errors
    ///
    /// [`CliError::NoInput`] when the input cannot be read; [`CliError::BadInput`] when a
    /// line is not text (not UTF-8, or a NUL byte).
    pub fn next_chunk(&mut self) -> Result<Option<Vec<String>>, CliError> {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        let mut line = Vec::new();
        while bytes < CHUNK_BYTES {
            line.clear();
            let read = (&mut self.reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| CliError::NoInput(format!("cannot read {}: {e}", self.name)))?;
            if read == 0 {
                break;
            }
            self.line_number += 1;
            if line.len() > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
                line.truncate(MAX_LINE_BYTES);
                self.skip_rest_of_line()?;
                self.cut_lines += 1;
                eprintln!(
                    "troubleshooter: {} line {}: longer than {MAX_LINE_BYTES} bytes (CloudWatch Logs' event limit); only its first {MAX_LINE_BYTES} are read",
                    self.name, self.line_number
                );
            }
            let text = match std::str::from_utf8(&line) {
                Ok(text) => text,
                // A line cut at the limit may end inside a character: keep what is whole.
                Err(e) if e.error_len().is_none() => std::str::from_utf8(&line[..e.valid_up_to()]).unwrap_or_default(),
                Err(e) => return Err(not_text(&self.name, self.line_number, &format!("not UTF-8: {e}"))),
            };
            if let Some(at) = memchr::memchr(0, text.as_bytes()) {
                return Err(not_text(&self.name, self.line_number, &format!("a NUL byte at column {}", at + 1)));
            }
            let text = text.trim_end_matches(['\n', '\r']);
            if !text.trim().is_empty() {
                bytes += text.len();
                chunk.push(text.to_owned());
            }
        }
        Ok((!chunk.is_empty()).then_some(chunk))
    }

    /// Skips to the end of the current line, a buffer at a time.
    fn skip_rest_of_line(&mut self) -> Result<(), CliError> {
        loop {
            let buffer =
                self.reader.fill_buf().map_err(|e| CliError::NoInput(format!("cannot read {}: {e}", self.name)))?;
            if buffer.is_empty() {
                return Ok(());
            }
            if memchr::memchr(0, buffer).is_some() {
                return Err(not_text(&self.name, self.line_number, "a NUL byte"));
            }
            match memchr::memchr(b'\n', buffer) {
                Some(at) => {
                    self.reader.consume(at + 1);
                    return Ok(());
                }
                None => {
                    let len = buffer.len();
                    self.reader.consume(len);
                }
            }
        }
    }
}

fn not_text(name: &str, line: usize, what: &str) -> CliError {
    CliError::BadInput(InputError::NotTextLine { name: name.to_owned(), line, reason: what.to_owned() })
}
