//! Reading the files a user names on the command line (models, images, sidecars, labels, .npy):
//! regular files only — a named pipe or a device would block forever, a directory misleads — and
//! no more than a size limit, checked before anything is read. Labels files named by a sidecar must
//! also stay beside it (no absolute path, no `..`, no symbolic link).
use std::io::{Error, ErrorKind, Read};
use std::path::Path;

pub use crate::budget::{MAX_FILE_BYTES, MAX_TEXT_BYTES};

/// Reads a regular file of at most `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file (a directory, named pipe or device)"));
    }
    if meta.len() > limit {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("{} bytes, more than the limit of {limit}", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Error::new(ErrorKind::InvalidData, format!("it grew past the limit of {limit} bytes while read")));
    }
    Ok(bytes)
}

/// A file named by another (a sidecar's `labels_file`) must be a plain relative path below the
/// naming file's folder, and not a symbolic link.
pub fn check_beside(relative: &str, resolved: &Path) -> std::io::Result<()> {
    let rel = Path::new(relative);
    let plain = rel.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "must be a relative path inside the sidecar's folder (no '..')",
        ));
    }
    if std::fs::symlink_metadata(resolved)?.file_type().is_symlink() {
        return Err(Error::new(ErrorKind::InvalidInput, "is a symbolic link"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_directories_and_oversized_files() {
        let dir = std::env::temp_dir().join(format!("rlrp-fsread-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(read_regular(&dir, 10).is_err());
        let f = dir.join("f.bin");
        std::fs::write(&f, [0u8; 100]).unwrap();
        assert_eq!(read_regular(&f, 100).unwrap().len(), 100);
        assert!(read_regular(&f, 99).unwrap_err().to_string().contains("limit"));
        assert!(check_beside("../etc/passwd", &f).is_err());
        assert!(check_beside("/etc/passwd", &f).is_err());
        assert!(check_beside("f.bin", &f).is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }
}
