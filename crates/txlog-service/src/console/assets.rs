//! The console's files, built into the binary: the page and its style sheet as written, the
//! scripts as `tsc` built them (committed, so that building the service needs no Node.js; see
//! `console/README.md`).

use sha2::{Digest as _, Sha256};

/// One file of the console.
pub struct Asset {
    /// Its path under `/console/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

impl Asset {
    /// A strong validator: the first 16 bytes of the file's SHA-256, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", hex::encode(&Sha256::digest(self.bytes)[..16]))
    }
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($path:expr, $file:expr, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $file)),
        }
    };
    ($script:literal) => {
        asset!(
            concat!("js/", $script, ".js"),
            concat!("dist/", $script, ".js"),
            JS
        )
    };
}

/// Every file the console serves (a test checks that `console/dist` holds no other).
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "static/index.html", HTML),
    asset!("console.css", "static/console.css", CSS),
    asset!("main"),
    asset!("api"),
    asset!("auth"),
    asset!("bytes"),
    asset!("chart"),
    asset!("dom"),
    asset!("jcs"),
    asset!("merkle"),
    asset!("note"),
    asset!("proof"),
    asset!("session"),
    asset!("views/activity"),
    asset!("views/record"),
    asset!("views/records"),
    asset!("views/signin"),
    asset!("views/story"),
];

/// The file at `path` under `/console/`.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script `tsc` builds is served: a new source file must be listed above.
    #[test]
    fn every_built_script_is_served() {
        let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console/dist");
        let mut built = Vec::new();
        let mut dirs = vec![dist.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let relative = path.strip_prefix(&dist).unwrap().to_str().unwrap();
                    built.push(format!("js/{relative}"));
                }
            }
        }
        built.sort();
        let mut served: Vec<String> = ASSETS
            .iter()
            .filter(|a| a.path.starts_with("js/"))
            .map(|a| a.path.to_owned())
            .collect();
        served.sort();
        assert_eq!(built, served);
    }

    #[test]
    fn etags_follow_the_bytes() {
        let index = find("index.html").unwrap();
        assert_eq!(index.etag(), index.etag());
        assert_ne!(index.etag(), find("console.css").unwrap().etag());
        assert!(find("../Cargo.toml").is_none());
    }
}
