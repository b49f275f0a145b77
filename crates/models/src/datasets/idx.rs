//! The IDX file format of MNIST and Fashion-MNIST (optionally gzip-compressed).
//!
//! An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
//! dimensions), one big-endian u32 per dimension, then the data, row-major. Only unsigned
//! bytes (type 0x08) are supported, which is what both datasets use.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::error::{Error, Result};

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Sizes of each dimension (e.g. `[10000, 28, 28]` for images, `[10000]` for labels).
    pub shape: Vec<usize>,
    /// The values, row-major; `data.len()` is the product of `shape`.
    pub data: Vec<u8>,
}

fn corrupt(path: &Path, problem: String) -> Error {
    Error::Dataset { path: path.to_path_buf(), problem }
}

/// Reads an IDX file; a name ending in `.gz` is decompressed first. A truncated, padded or
/// non-byte file is an [`Error::Dataset`] saying what is wrong.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| corrupt(path, format!("cannot open: {e}")))?;
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        GzDecoder::new(file).read_to_end(&mut bytes).map_err(|e| corrupt(path, format!("gzip: {e}")))?;
    } else {
        std::io::BufReader::new(file)
            .read_to_end(&mut bytes)
            .map_err(|e| corrupt(path, format!("cannot read: {e}")))?;
    }
    parse_idx(&bytes).map_err(|problem| corrupt(path, problem))
}

/// Parses the bytes of an (uncompressed) IDX file.
pub fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    let [zero0, zero1, kind, dimensions] = *bytes.first_chunk::<4>().ok_or("shorter than the 4-byte magic number")?;
    if zero0 != 0 || zero1 != 0 {
        return Err(format!("bad magic number {:02x?}: not an IDX file", &bytes[..4]));
    }
    if kind != 0x08 {
        return Err(format!("element type 0x{kind:02x} is not supported (only unsigned bytes, 0x08)"));
    }
    let dimensions = dimensions as usize;
    let header = 4 + 4 * dimensions;
    if dimensions == 0 || bytes.len() < header {
        return Err(format!("{dimensions} dimensions need a {header}-byte header; the file has {} bytes", bytes.len()));
    }
    let shape: Vec<usize> =
        bytes[4..header].chunks_exact(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize).collect();
    let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("shape overflows")?;
    let actual = bytes.len() - header;
    if actual != expected {
        return Err(format!("shape {shape:?} needs {expected} data bytes, the file has {actual}"));
    }
    Ok(IdxArray { shape, data: bytes[header..].to_vec() })
}

/// Writes an IDX byte array, gzip-compressed when the name ends in `.gz`.
pub fn write_idx(path: impl AsRef<Path>, array: &IdxArray) -> Result<()> {
    let path = path.as_ref();
    let mut bytes = vec![0, 0, 0x08, array.shape.len() as u8];
    for &d in &array.shape {
        bytes.extend((d as u32).to_be_bytes());
    }
    bytes.extend(&array.data);
    if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&bytes)?;
        bytes = encoder.finish()?;
    }
    std::fs::write(path, bytes)?;
    Ok(())
}
