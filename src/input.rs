//! The one bounded reader of every input file: allow-lists, profile, catalog, IP ranges, PAC
//! scripts, CA files, ICE-server files and reports.
//!
//! Only regular files are read. A FIFO, a device (`/dev/zero`), a socket or a directory is refused
//! before it is opened for reading, naming the file (exit 65): opening a FIFO blocks until a
//! writer comes, and a device never ends, so either would outlive `--timeout` or exhaust memory.
//! A regular file is read up to its cap and no further, whatever its size claims.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Location, Result};

/// The largest input read at all; every caller may ask for less.
pub(crate) const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// What a path is, when it is not a regular file.
fn not_regular(meta: &std::fs::Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("a device");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Opens `path` for reading if it is a regular file; anything else is bad input naming it.
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File> {
    let read_error = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    // Asked before opening: opening a FIFO would block until something writes to it.
    let meta = std::fs::metadata(path).map_err(read_error)?;
    let refuse = |what: &str| {
        Error::bad_input(
            Location::file(path),
            format!("this is {what}, not a regular file: give the file itself"),
        )
    };
    if let Some(what) = not_regular(&meta) {
        return Err(refuse(what));
    }
    let file = std::fs::File::open(path).map_err(read_error)?;
    // And again on what was opened, in case the path changed in between.
    if let Some(what) = not_regular(&file.metadata().map_err(read_error)?) {
        return Err(refuse(what));
    }
    Ok(file)
}

/// Reads at most `max` bytes of the regular file `path`; a longer one is bad input saying what
/// `what` is expected to be.
pub(crate) fn read_bytes(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let max = max.min(MAX_BYTES);
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(Error::bad_input(
            Location::file(path),
            format!(
                "the file is larger than {}, which {what} never is",
                size(max)
            ),
        ));
    }
    Ok(bytes)
}

/// Reads the regular file `path` as text (UTF-8, or UTF-16 with a byte-order mark), at most
/// `max` bytes; binary files are refused naming where.
pub(crate) fn read_text(path: &Path, max: u64, what: &str) -> Result<String> {
    text_of(path, read_bytes(path, max, what)?)
}

fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// The regular files in `dir` whose name matches the shell pattern `pattern` (`*` and `?`), in
/// order: what an `include "dir/*.conf"` of nft or squid reads (as glob(3) does, `*` does not
/// match a leading dot). `None` when the folder cannot be read.
pub(crate) fn matching_files(dir: &Path, pattern: &str) -> Option<Vec<std::path::PathBuf>> {
    let mut out: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| shell_match(pattern, &n.to_string_lossy()))
        })
        .collect();
    out.sort();
    Some(out)
}

/// `*` and `?` against one file name, without backtracking blow-up: the last `*` is retried one
/// character further at a time, so the work is at most the product of the two lengths.
pub(crate) fn shell_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Lists larger than this are refused rather than read: no real allow-list comes close.
pub const MAX_LIST_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a list file (allow-list, ruleset, catalog, ip-ranges.json) as text, refusing binaries
/// and files over [`MAX_LIST_BYTES`], and never reading more than that.
pub fn read_list(path: &Path) -> Result<String> {
    // One byte past the cap is read, so that text_of names the cap.
    let bytes = read_bytes(path, MAX_LIST_BYTES + 1, "a list")?;
    text_of(path, bytes)
}

/// The checks of [`read_list`] on bytes already in memory.
pub fn text_of(path: &Path, bytes: Vec<u8>) -> Result<String> {
    if bytes.len() as u64 > MAX_LIST_BYTES {
        return Err(Error::bad_input(
            Location::file(path),
            format!(
                "the file is larger than {} MiB; expected an allow-list or firewall export, not a dump of something else",
                MAX_LIST_BYTES / (1024 * 1024)
            ),
        ));
    }
    // Windows tools often save "Unicode" text as UTF-16 with a byte-order mark.
    let utf16 = match bytes.get(..2) {
        Some([0xff, 0xfe]) => Some(u16::from_le_bytes as fn([u8; 2]) -> u16),
        Some([0xfe, 0xff]) => Some(u16::from_be_bytes as fn([u8; 2]) -> u16),
        _ => None,
    };
    if let Some(decode) = utf16 {
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|pair| decode([pair[0], pair.get(1).copied().unwrap_or(0)]))
            .collect();
        let text = String::from_utf16(&units).map_err(|_| {
            Error::bad_input(
                Location::file(path),
                "the file says it is UTF-16 but is not valid UTF-16; save it as UTF-8",
            )
        })?;
        return text_of(path, text.into_bytes());
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        let location = Location::from_offset(path, &String::from_utf8_lossy(&bytes), offset);
        return Err(Error::bad_input(
            location,
            "this is a binary file (it holds a NUL byte); expected a text allow-list",
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        Error::bad_input(
            Location::from_offset(path, &text, offset),
            "the file is not UTF-8 text; save it as UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_and_a_device_are_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_bytes(dir.path(), 10, "a list").unwrap_err();
        assert!(matches!(err, Error::BadInput { .. }), "{err}");
        assert!(err.to_string().contains("a directory"), "{err}");
        #[cfg(unix)]
        {
            let err = read_bytes(Path::new("/dev/zero"), MAX_BYTES, "a PAC script").unwrap_err();
            assert!(err.to_string().starts_with("/dev/zero: "), "{err}");
            assert!(err.to_string().contains("a device"), "{err}");
        }
    }

    #[test]
    fn a_file_is_read_up_to_its_cap_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'a'; 2048]).unwrap();
        assert_eq!(read_bytes(&path, 2048, "x").unwrap().len(), 2048);
        let err = read_bytes(&path, 1024, "a CA file").unwrap_err();
        assert!(
            err.to_string()
                .contains("larger than 1 KiB, which a CA file never is"),
            "{err}"
        );
    }

    #[test]
    fn include_patterns_match_as_the_shell_does() {
        assert!(shell_match("*.conf", "debian.conf"));
        assert!(!shell_match("*.conf", "debian.conf.bak"));
        assert!(shell_match("rules-??.nft", "rules-01.nft"));
        assert!(!shell_match("rules-??.nft", "rules-1.nft"));
        assert!(!shell_match("*", ".hidden"));
        assert!(shell_match(".*", ".hidden"));
        // Many stars against a long name that fails at its end: no exponential backtracking.
        let name = "a".repeat(5_000);
        assert!(!shell_match(&format!("{}b", "*a".repeat(50)), &name));
    }
}
