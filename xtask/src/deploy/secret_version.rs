//! Making a secret version: its value (generated from the operating
//! system's random generator, or read from standard input) and the Swarm
//! secret `<stack>_<key>_v<N>` holding it. The value exists only in this
//! process's memory and in the Swarm: never in a file, an argument, a
//! label or the output.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Read as _};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use bollard::models::SecretSpec;

use crate::bundle::compose::SecretGenerate;
use crate::bundle::{SECRET_KEY_LABEL, SECRET_ORIGIN_LABEL, SECRET_VERSION_LABEL, secret_version_name};
use crate::swarm::engine::{Engine, NAMESPACE_LABEL, message_of, status_of};

/// The characters of a generated value: safe unquoted in a shell, a URL, an
/// INI or YAML file, and in every component's config.
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Swarm refuses secret data over 500 KiB (swarmkit `validateSecretSpec`).
const MAX_VALUE: usize = 500 * 1024;

/// Where a version's value came from (label `xtask.secret.origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Generated,
    /// The stack's `default`, a stand-in.
    Default,
    Set,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Generated => "generated",
            Origin::Default => "default",
            Origin::Set => "set",
        }
    }
}

/// A new random value as `how` asks.
pub fn generate(how: SecretGenerate) -> Result<String> {
    random_alphanumeric(how.length as usize, |buf| {
        getrandom::fill(buf).map_err(|e| anyhow::anyhow!("the operating system's random generator failed: {e}"))
    })
}

/// `length` characters of [`ALPHABET`] from the bytes `fill` gives. A byte
/// of 248 or more is dropped (rejection sampling): 256 is not a multiple of
/// 62, and keeping them would make the first eight characters likelier.
fn random_alphanumeric(length: usize, mut fill: impl FnMut(&mut [u8]) -> Result<()>) -> Result<String> {
    let limit = 256 - 256 % ALPHABET.len();
    let mut out = String::with_capacity(length);
    let mut buf = [0u8; 64];
    while out.len() < length {
        fill(&mut buf)?;
        for &b in buf.iter().filter(|&&b| usize::from(b) < limit) {
            if out.len() == length {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

/// The value for `key` from standard input: typed without echo when it is
/// a terminal, else read to the end, one trailing newline dropped (what
/// `echo` and a here-string add).
pub fn read_value(key: &str) -> Result<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("new value of `{key}` (not echoed): "))
            .context("reading the value from the terminal")?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_VALUE as u64 + 2)
            .read_to_string(&mut text)
            .context("reading the value from standard input (it must be UTF-8)")?;
        without_trailing_newline(text)
    };
    if value.is_empty() {
        bail!("the value of `{key}` is empty: nothing was changed");
    }
    if value.len() > MAX_VALUE {
        bail!("the value of `{key}` is over {MAX_VALUE} bytes, more than Swarm keeps in a secret");
    }
    Ok(value)
}

fn without_trailing_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Creates version `version` of secret `key` (family `family`) of `stack`;
/// its id. An existing secret of that name is an error: versions are never
/// replaced.
pub async fn create(
    engine: &Engine,
    stack: &str,
    key: &str,
    family: &str,
    version: u32,
    value: &str,
    origin: Origin,
) -> Result<String> {
    let name = secret_version_name(family, version);
    let labels = HashMap::from([
        // `docker stack rm` removes it with the stack, like the configs.
        (NAMESPACE_LABEL.to_owned(), stack.to_owned()),
        (SECRET_KEY_LABEL.to_owned(), key.to_owned()),
        (SECRET_VERSION_LABEL.to_owned(), version.to_string()),
        (SECRET_ORIGIN_LABEL.to_owned(), origin.as_str().to_owned()),
    ]);
    let spec = SecretSpec {
        name: Some(name.clone()),
        labels: Some(labels),
        data: Some(base64::engine::general_purpose::STANDARD.encode(value)),
        ..Default::default()
    };
    match engine.docker.create_secret(spec).await {
        Ok(r) => Ok(r.id),
        Err(e) if status_of(&e) == Some(409) => {
            bail!(
                "secret `{name}` already exists (another run made this version at the same time?): nothing was changed"
            )
        }
        Err(e) => bail!("creating secret `{name}`: {}", message_of(&e)),
    }
}

/// Removes secret `name` (a version nothing uses); whether it went.
pub async fn remove(engine: &Engine, name: &str) -> bool {
    engine.docker.delete_secret(name).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_have_the_length_and_alphabet_and_differ() {
        let how = SecretGenerate { length: 32, placeholder: false };
        let a = generate(how).unwrap();
        let b = generate(how).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b, "two draws of 190 bits cannot collide");
    }

    #[test]
    fn bytes_that_would_bias_the_alphabet_are_dropped() {
        // 248..=255 would map to A..H a fifth more often: never used.
        let mut calls = 0;
        let out = random_alphanumeric(3, |buf| {
            calls += 1;
            buf.fill(if calls == 1 { 250 } else { 61 });
            Ok(())
        })
        .unwrap();
        assert_eq!(out, "999");
        assert_eq!(calls, 2, "a buffer of rejected bytes is drawn again");
    }

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(without_trailing_newline("v\n".into()), "v");
        assert_eq!(without_trailing_newline("v\r\n".into()), "v");
        assert_eq!(without_trailing_newline("v\n\n".into()), "v\n");
        assert_eq!(without_trailing_newline("v".into()), "v");
    }
}
