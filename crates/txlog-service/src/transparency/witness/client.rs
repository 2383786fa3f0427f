//! One C2SP tlog-witness `add-checkpoint` exchange: the request body and what the answer
//! means.

use std::time::Duration;

use base64::prelude::*;
use tlog_tiles::Hash;

/// A witness must answer within this; a slow one is retried later, never waited on.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies a witness answers with are a few lines; anything longer is not a witness.
const MAX_ANSWER: usize = 64 * 1024;

/// What a witness said to a checkpoint.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200: its cosignature lines (not yet verified).
    Cosigned(String),
    /// 409 with a `text/x.tlog.size` body: the size it last cosigned is not the `old` sent.
    Conflict(u64),
    /// 422: our consistency proof does not lead from its tree to ours.
    ProofRefused(String),
    /// Anything else (403 unknown log or key, 400, 5xx, a malformed answer): try again later.
    Failed(String),
}

/// The request body: `old <size>`, the consistency proof's hashes in base64, a blank line,
/// then the checkpoint note.
pub fn body(old: u64, proof: &[Hash], note: &str) -> String {
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&BASE64_STANDARD.encode(hash.0));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

/// The client for witnesses: bounded in time, and following no redirect (a witness URL is
/// checked once, at start-up).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Sends `body` to `<base>/add-checkpoint`. `Err` when the witness could not be reached.
pub async fn add_checkpoint(
    client: &reqwest::Client,
    base: &reqwest::Url,
    body: String,
) -> Result<Answer, reqwest::Error> {
    let url = format!("{}/add-checkpoint", base.as_str().trim_end_matches('/'));
    let response = client.post(url).body(body).send().await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await?;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ANSWER)]).into_owned();
    Ok(answer(status.as_u16(), &content_type, text))
}

/// What an answer means (SPEC section 12; C2SP tlog-witness).
fn answer(status: u16, content_type: &str, text: String) -> Answer {
    match status {
        200 => Answer::Cosigned(text),
        409 if content_type.starts_with("text/x.tlog.size") => {
            match text.trim_end_matches('\n').parse::<u64>() {
                Ok(size) => Answer::Conflict(size),
                Err(_) => Answer::Failed(format!("409 with a malformed size {:?}", short(&text))),
            }
        }
        422 => Answer::ProofRefused(short(&text)),
        _ => Answer::Failed(format!("{status}: {}", short(&text))),
    }
}

fn short(text: &str) -> String {
    text.trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_old_size_proof_blank_line_note() {
        let note = "o\n3\nAAAA\n\n\u{2014} o sig\n";
        let proof = [Hash([0; 32]), Hash([255; 32])];
        assert_eq!(
            body(2, &proof, note),
            format!(
                "old 2\n{}\n{}\n\n{note}",
                BASE64_STANDARD.encode([0; 32]),
                BASE64_STANDARD.encode([255; 32])
            )
        );
        assert_eq!(body(0, &[], note), format!("old 0\n\n{note}"));
    }

    #[test]
    fn answers_are_read_by_status() {
        let text = |t: &str| t.to_owned();
        assert_eq!(
            answer(409, "text/x.tlog.size", text("12\n")),
            Answer::Conflict(12)
        );
        assert!(matches!(
            answer(409, "text/plain", text("12\n")),
            Answer::Failed(_)
        ));
        assert!(matches!(
            answer(409, "text/x.tlog.size", text("twelve")),
            Answer::Failed(_)
        ));
        assert!(matches!(
            answer(422, "", text("bad proof")),
            Answer::ProofRefused(_)
        ));
        assert!(matches!(
            answer(403, "", text("unknown log")),
            Answer::Failed(_)
        ));
        assert_eq!(
            answer(200, "", text("\u{2014} w x\n")),
            Answer::Cosigned(text("\u{2014} w x\n"))
        );
    }
}
