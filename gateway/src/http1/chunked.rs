//! A pass-through scanner for chunked bodies: it reads the framing of bytes the caller copies
//! through unchanged, across any split, and says where the body ends.

use std::fmt;

/// The longest chunk-size line (size and extensions) or trailer line taken, as Go's reader.
pub const MAX_CHUNK_LINE: usize = 4096;

/// How far one [`ChunkedScanner::scan`] call got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes of the input that belong to the body (all of them unless `done`).
    pub used: usize,
    /// Whether the body ended (last chunk and trailers read) within those bytes.
    pub done: bool,
}

/// A chunked body that breaks the framing rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkedError {
    /// A chunk size that is not hexadecimal.
    InvalidSize,
    /// A chunk size beyond 64 bits.
    SizeOverflow,
    /// A byte an extension may not hold.
    InvalidExtension,
    /// A line that does not end in CRLF, or chunk data not followed by CRLF.
    MissingCrlf,
    /// A malformed trailer field.
    InvalidTrailer,
    /// A chunk-size or trailer line longer than [`MAX_CHUNK_LINE`].
    LineTooLong,
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkedError::InvalidSize => "invalid chunk size",
            ChunkedError::SizeOverflow => "chunk size overflows 64 bits",
            ChunkedError::InvalidExtension => "invalid chunk extension",
            ChunkedError::MissingCrlf => "chunk framing without CRLF",
            ChunkedError::InvalidTrailer => "invalid trailer field",
            ChunkedError::LineTooLong => "chunk line too long",
        })
    }
}

impl std::error::Error for ChunkedError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a size line: a hex digit must come.
    SizeStart,
    /// In the size's hex digits.
    Size,
    /// After the size: whitespace, then `;` or CR.
    SizeTail,
    /// In a chunk extension, until CR.
    Extension,
    /// After the size line's CR.
    SizeLf,
    /// In chunk data, with this many bytes left.
    Data(u64),
    /// After chunk data: CR, then LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// In a trailer field's name.
    TrailerName,
    /// In a trailer field's value, until CR.
    TrailerValue,
    /// After a trailer line's CR.
    TrailerLf,
    /// After the final empty line's CR.
    FinalLf,
    Done,
    Failed(ChunkedError),
}

/// Follows the framing of one chunked body. Reuse it with [`ChunkedScanner::new`] per body.
#[derive(Clone, Debug)]
pub struct ChunkedScanner {
    state: State,
    size: u64,
    /// Bytes of the current size or trailer line so far.
    line_len: usize,
}

impl Default for ChunkedScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedScanner {
    /// A scanner at the start of a body.
    pub fn new() -> Self {
        ChunkedScanner {
            state: State::SizeStart,
            size: 0,
            line_len: 0,
        }
    }

    /// Reads the next `bytes` of the body. Once an error is returned, every later call
    /// returns it too; once done, later calls use no bytes.
    pub fn scan(&mut self, bytes: &[u8]) -> Result<Scanned, ChunkedError> {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Done => break,
                State::Failed(err) => return Err(err),
                State::Data(left) => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - i);
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                }
                _ => {
                    if let Err(err) = self.step(bytes[i]) {
                        self.state = State::Failed(err);
                        return Err(err);
                    }
                    i += 1;
                }
            }
        }
        match self.state {
            State::Failed(err) => Err(err),
            state => Ok(Scanned {
                used: i,
                done: state == State::Done,
            }),
        }
    }

    /// Advances over one framing byte.
    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        self.state = match self.state {
            State::SizeStart => {
                self.size = u64::from(hex_value(byte).ok_or(ChunkedError::InvalidSize)?);
                self.line_len = 1;
                State::Size
            }
            State::Size => {
                self.count_line_byte()?;
                match hex_value(byte) {
                    Some(digit) => {
                        self.size = self
                            .size
                            .checked_mul(16)
                            .ok_or(ChunkedError::SizeOverflow)?
                            | u64::from(digit);
                        State::Size
                    }
                    None => return self.after_size(byte),
                }
            }
            State::SizeTail => {
                self.count_line_byte()?;
                return self.after_size(byte);
            }
            State::Extension => {
                self.count_line_byte()?;
                match byte {
                    b'\r' => State::SizeLf,
                    b'\t' | b' '..=b'~' | 0x80..=0xff => State::Extension,
                    _ => return Err(ChunkedError::InvalidExtension),
                }
            }
            State::SizeLf => match byte {
                b'\n' if self.size == 0 => State::TrailerStart,
                b'\n' => State::Data(self.size),
                _ => return Err(ChunkedError::MissingCrlf),
            },
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => return Err(ChunkedError::MissingCrlf),
            },
            State::DataLf => match byte {
                b'\n' => State::SizeStart,
                _ => return Err(ChunkedError::MissingCrlf),
            },
            State::TrailerStart => {
                self.line_len = 1;
                match byte {
                    b'\r' => State::FinalLf,
                    _ if is_token_byte(byte) => State::TrailerName,
                    _ => return Err(ChunkedError::InvalidTrailer),
                }
            }
            State::TrailerName => {
                self.count_line_byte()?;
                match byte {
                    b':' => State::TrailerValue,
                    _ if is_token_byte(byte) => State::TrailerName,
                    _ => return Err(ChunkedError::InvalidTrailer),
                }
            }
            State::TrailerValue => {
                self.count_line_byte()?;
                match byte {
                    b'\r' => State::TrailerLf,
                    b'\t' | b' '..=b'~' | 0x80..=0xff => State::TrailerValue,
                    _ => return Err(ChunkedError::InvalidTrailer),
                }
            }
            State::TrailerLf => match byte {
                b'\n' => State::TrailerStart,
                _ => return Err(ChunkedError::MissingCrlf),
            },
            State::FinalLf => match byte {
                b'\n' => State::Done,
                _ => return Err(ChunkedError::MissingCrlf),
            },
            State::Data(_) | State::Done | State::Failed(_) => {
                unreachable!("scan handles data, the end and failures itself")
            }
        };
        Ok(())
    }

    /// The byte after the size digits (or after whitespace that follows them).
    fn after_size(&mut self, byte: u8) -> Result<(), ChunkedError> {
        self.state = match byte {
            b' ' | b'\t' => State::SizeTail,
            b';' => State::Extension,
            b'\r' => State::SizeLf,
            b'\n' => return Err(ChunkedError::MissingCrlf),
            _ => return Err(ChunkedError::InvalidSize),
        };
        Ok(())
    }

    fn count_line_byte(&mut self) -> Result<(), ChunkedError> {
        self.line_len += 1;
        if self.line_len > MAX_CHUNK_LINE {
            return Err(ChunkedError::LineTooLong);
        }
        Ok(())
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// RFC 9110's `tchar`: the bytes of a field name.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests;
