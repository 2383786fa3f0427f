//! The real OpenID Connect provider of `tests/oidc` (npm's oidc-provider) on a free loopback
//! port, for the console's sign-in; killed on drop. Its packages come from `npm ci --prefix
//! tests/oidc` (a step of `.ci/run`); without them or without Node the test is unavailable.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub struct Provider {
    pub issuer: String,
    child: Child,
}

impl Provider {
    /// `None` (only outside CI) when Node or the provider's packages are missing.
    pub fn start() -> Option<Provider> {
        let root = repo_root();
        if !root.join("tests/oidc/node_modules/oidc-provider").is_dir() {
            testkit::unavailable("tests/oidc has no node_modules: npm ci --prefix tests/oidc");
            return None;
        }
        let mut child = match Command::new("node")
            .args(["tests/oidc/server.mjs", "0"])
            .current_dir(&root)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                testkit::unavailable(format!("node cannot run: {e}"));
                return None;
            }
        };
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let issuer = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("the OIDC provider did not start: {line:?}"))
            .to_owned();
        Some(Provider { issuer, child })
    }

    /// A client-credentials token of the `ordersys-test` client for the transaction log.
    pub async fn service_token(&self, scope: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth("ordersys-test", Some("test-secret"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("resource", super::AUDIENCE),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "token: {:?}", response.text().await);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
