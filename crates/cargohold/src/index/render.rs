//! Turns a crate's index lines into the file served to cargo, with its validators.

use sha2::{Digest, Sha256};

use crate::db::index_files::IndexFileRow;

/// The index file for `lines` (one JSON object each, in publish order), changed at `now`.
///
/// The ETag is a hash of the content, so it is the same on every node and
/// after `reindex`, and changes exactly when the bytes do.
pub fn index_file(lines: &[String], now: i64) -> IndexFileRow {
    let mut content = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        content.push_str(line);
        content.push('\n');
    }
    let etag = etag_for(content.as_bytes());
    IndexFileRow {
        content,
        etag,
        last_modified: now,
    }
}

/// A strong ETag (quoted) derived from `bytes`.
pub fn etag_for(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_its_lines_each_ending_in_a_newline() {
        let file = index_file(&["{\"a\":1}".into(), "{\"b\":2}".into()], 7);
        assert_eq!(file.content, "{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(file.last_modified, 7);
    }

    #[test]
    fn the_etag_follows_the_content_only() {
        let a = index_file(&["x".into()], 1);
        let b = index_file(&["x".into()], 2);
        let c = index_file(&["y".into()], 1);
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
    }
}
