//! Signed links: the one HMAC-SHA256 signer behind every URL that works without a login — the
//! campaign audio Twilio fetches (signed for as long as the file is the same) and recording
//! downloads (signed for a few minutes, so a link that leaks stops working). Each purpose has its
//! own key derived from the installation's secret, so a token of one kind is never valid as
//! another; the signed parts are joined with NUL bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signs and checks tokens of one purpose.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    /// The signer of `purpose` (e.g. `palera campaign audio`) under the installation's `secret`.
    pub fn new(purpose: &str, secret: &str) -> Self {
        Self {
            key: format!("{purpose}\0{secret}").into_bytes(),
        }
    }

    /// The MAC of `parts`, joined with NUL bytes.
    pub fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                mac.update(b"\0");
            }
            mac.update(p);
        }
        mac
    }

    /// The token of `parts` (hex).
    pub fn token(&self, parts: &[&[u8]]) -> String {
        hex::encode(self.mac(parts).finalize().into_bytes())
    }

    /// Whether `token` (hex) signs `parts`; compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], token: &str) -> bool {
        let Ok(given) = hex::decode(token) else {
            return false;
        };
        self.mac(parts).verify_slice(&given).is_ok()
    }

    /// A token of `parts` that stops working after `expires` (Unix seconds): `{expires}.{mac}`.
    pub fn expiring(&self, parts: &[&[u8]], expires: i64) -> String {
        let at = expires.to_string();
        let mut all = parts.to_vec();
        all.push(at.as_bytes());
        format!("{at}.{}", self.token(&all))
    }

    /// Checks an [`Signer::expiring`] token at `now` (Unix seconds).
    pub fn check_expiring(&self, parts: &[&[u8]], token: &str, now: i64) -> Result<(), LinkError> {
        let (at, mac) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let expires: i64 = at.parse().map_err(|_| LinkError::Invalid)?;
        let mut all = parts.to_vec();
        all.push(at.as_bytes());
        if !self.verify(&all, mac) {
            return Err(LinkError::Invalid);
        }
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not signed by us for this (a guess, an altered link, another file's link).
    Invalid,
    /// Signed, but its time is over.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_stops_working_when_it_expires() {
        let s = Signer::new("palera recording", "secret");
        let t = s.expiring(&[b"7", b"12"], 1_000);
        assert_eq!(s.check_expiring(&[b"7", b"12"], &t, 999), Ok(()));
        assert_eq!(
            s.check_expiring(&[b"7", b"12"], &t, 1_000),
            Err(LinkError::Expired)
        );
        assert_eq!(
            s.check_expiring(&[b"7", b"13"], &t, 10),
            Err(LinkError::Invalid),
            "another recording's link"
        );
        let later = t.replacen("1000.", "9000.", 1);
        assert_eq!(
            s.check_expiring(&[b"7", b"12"], &later, 10),
            Err(LinkError::Invalid),
            "a moved expiry breaks the signature"
        );
        let other = Signer::new("palera campaign audio", "secret");
        assert_eq!(
            other.check_expiring(&[b"7", b"12"], &t, 10),
            Err(LinkError::Invalid)
        );
    }
}
