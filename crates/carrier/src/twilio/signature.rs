//! Validation of Twilio's webhook signatures (`X-Twilio-Signature`). Owns the algorithm only:
//! pure functions over the URL Twilio requested, the raw body and the header value. The server's
//! extractor rebuilds the URL from the public base URL setting (never from `Host`), calls
//! [`validate_request`], and answers 403 on any error.
//!
//! Algorithm (Twilio's request validators): the signature is
//! `base64(HMAC-SHA1(auth_token, url + for each name sorted, for each value sorted: name+value))`.
//! JSON bodies are signed over the URL only; the URL carries `bodySHA256=<hex sha256 of body>`
//! and the body must hash to it. Twilio signs the URL sometimes with and sometimes without the
//! default port, so both spellings are accepted.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

type HmacSha1 = Hmac<Sha1>;

/// Why a webhook request was not accepted as coming from Twilio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Twilio-Signature header is missing")]
    Missing,
    #[error("the X-Twilio-Signature header is not base64 of a SHA-1 HMAC")]
    Malformed,
    #[error("the signature does not match the request")]
    Mismatch,
    #[error("a JSON body was sent without the bodySHA256 query parameter")]
    MissingBodyHash,
    #[error("the body does not match the bodySHA256 query parameter")]
    BodyHashMismatch,
}

/// How the webhook body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded` (the norm for Voice) or no body.
    Form,
    /// `application/json`: signed through `bodySHA256`.
    Json,
}

impl BodyKind {
    /// Reads a `Content-Type` header value; anything that is not JSON is treated as a form.
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(ct)
                if ct
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json") =>
            {
                Self::Json
            }
            _ => Self::Form,
        }
    }
}

/// Checks a webhook request end to end: `url` is the full URL Twilio requested (public base URL,
/// path and the raw query string), `body` the raw body, `signature` the header value if present.
pub fn validate_request(
    auth_token: &str,
    url: &str,
    kind: BodyKind,
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing)?;
    match kind {
        BodyKind::Form => {
            let params = parse_form(body);
            validate_form(auth_token, url, &params, signature)
        }
        BodyKind::Json => validate_json(auth_token, url, body, signature),
    }
}

/// The URL Twilio signed for a webhook we received: our public base URL (`PALERA_PUBLIC_URL`,
/// as configured, since a proxy may change scheme, host and port) joined with the request's
/// path and raw query (`/twilio/7/status?call_id=42`).
pub fn webhook_url(public_base_url: &str, path_and_query: &str) -> String {
    let base = public_base_url.trim_end_matches('/');
    if path_and_query.starts_with('/') {
        format!("{base}{path_and_query}")
    } else {
        format!("{base}/{path_and_query}")
    }
}

/// Checks a form-bodied request whose parameters are already decoded (repeated keys allowed).
pub fn validate_form(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> Result<(), SignatureError> {
    let expected = decode_signature(signature)?;
    let payloads = param_payloads(params);
    let matched = url_variants(url).iter().any(|candidate| {
        payloads.iter().any(|p| {
            mac_of(auth_token, candidate, p)
                .verify_slice(&expected)
                .is_ok()
        })
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Checks a JSON-bodied request: the URL must carry `bodySHA256` matching the raw body, and the
/// signature covers the URL alone.
pub fn validate_json(
    auth_token: &str,
    url: &str,
    body: &[u8],
    signature: &str,
) -> Result<(), SignatureError> {
    let claimed = query_param(url, "bodySHA256").ok_or(SignatureError::MissingBodyHash)?;
    validate_form(auth_token, url, &[], signature)?;
    if constant_time_eq(
        body_sha256(body).as_bytes(),
        claimed.to_ascii_lowercase().as_bytes(),
    ) {
        Ok(())
    } else {
        Err(SignatureError::BodyHashMismatch)
    }
}

/// The signature Twilio would send for `url` and form `params` (used by tests, fixtures and the
/// simulator to sign webhooks the way Twilio does).
pub fn compute_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let payload = sorted_payload(params, false);
    STANDARD.encode(mac_of(auth_token, url, &payload).finalize().into_bytes())
}

/// Lower-case hex SHA-256 of a body, as Twilio puts in `bodySHA256`.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Decodes an `application/x-www-form-urlencoded` body into ordered pairs.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn decode_signature(signature: &str) -> Result<Vec<u8>, SignatureError> {
    let bytes = STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Malformed)?;
    // A SHA-1 HMAC is 20 bytes; anything else cannot match and is a client bug worth naming.
    if bytes.len() == 20 {
        Ok(bytes)
    } else {
        Err(SignatureError::Malformed)
    }
}

fn mac_of(auth_token: &str, url: &str, payload: &str) -> HmacSha1 {
    let mut mac =
        HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    mac.update(payload.as_bytes());
    mac
}

/// The parameter strings to try. Twilio's SDKs disagree on whether a repeated identical
/// `name=value` pair counts once (Python deduplicates) or every time (Node, Java): accept both.
fn param_payloads(params: &[(String, String)]) -> Vec<String> {
    let all = sorted_payload(params, false);
    let unique = sorted_payload(params, true);
    if all == unique {
        vec![all]
    } else {
        vec![all, unique]
    }
}

fn sorted_payload(params: &[(String, String)], dedup: bool) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Sorting the pairs sorts by name, then by value within a name: Twilio's order.
    pairs.sort_unstable();
    if dedup {
        pairs.dedup();
    }
    pairs.iter().fold(String::new(), |mut s, (k, v)| {
        s.push_str(k);
        s.push_str(v);
        s
    })
}

/// The URL as given, without its port, and with the scheme's default port: Twilio may have
/// signed any of these spellings.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    for candidate in [without_port(url), with_default_port(url)]
        .into_iter()
        .flatten()
    {
        if !variants.contains(&candidate) {
            variants.push(candidate);
        }
    }
    variants
}

/// Splits `scheme://authority rest` at the authority; `None` for URLs without `://`.
fn split_authority(url: &str) -> Option<(&str, &str, &str)> {
    let scheme_end = url.find("://")?;
    let after = scheme_end + 3;
    let auth_len = url[after..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - after);
    Some((
        &url[..scheme_end],
        &url[after..after + auth_len],
        &url[after + auth_len..],
    ))
}

/// Position of the `:port` suffix in an authority (skipping user info and IPv6 brackets).
fn port_start(authority: &str) -> Option<usize> {
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host = &authority[host_start..];
    let colon = host.rfind(':')?;
    let is_port =
        !host[colon..].contains(']') && host[colon + 1..].bytes().all(|b| b.is_ascii_digit());
    is_port.then_some(host_start + colon)
}

fn without_port(url: &str) -> Option<String> {
    let (scheme, authority, rest) = split_authority(url)?;
    let colon = port_start(authority)?;
    Some(format!("{scheme}://{}{rest}", &authority[..colon]))
}

fn with_default_port(url: &str) -> Option<String> {
    let (scheme, authority, rest) = split_authority(url)?;
    if port_start(authority).is_some() {
        return None;
    }
    let port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    Some(format!("{scheme}://{authority}:{port}{rest}"))
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Twilio's official vectors (twilio-python / twilio-java request validator tests).
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const BODY: &str = "{\"property\": \"value\", \"boolean\": true}";
    const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

    fn official_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ])
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn official_vector_computes_the_documented_signature() {
        assert_eq!(
            compute_signature(TOKEN, URL, &official_params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn official_vector_validates() {
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert_eq!(validate_form(TOKEN, URL, &official_params(), sig), Ok(()));
    }

    #[test]
    fn a_wrong_signature_is_rejected() {
        // twilio-java testFailsWhenIncorrect.
        let r = validate_form(
            TOKEN,
            URL,
            &official_params(),
            "NOTRSOYDt4T1cUTdK1PDd93/VVr8B8=",
        );
        assert!(r.is_err());
        let flipped = "SSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert_eq!(
            validate_form(TOKEN, URL, &official_params(), flipped),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut params = official_params();
        params.reverse();
        assert_eq!(
            validate_form(TOKEN, URL, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            Ok(())
        );
    }

    #[test]
    fn repeated_keys_are_signed_with_every_value_sorted() {
        let params = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            compute_signature(TOKEN, URL, &params),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
        assert_eq!(
            validate_form(TOKEN, URL, &params, "IK+Dwps556ElfBT0I3Rgjkr1wJU="),
            Ok(())
        );
    }

    #[test]
    fn https_url_with_a_port_validates_against_the_signature_without_it() {
        let url = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert_eq!(validate_form(TOKEN, url, &official_params(), sig), Ok(()));
    }

    #[test]
    fn http_url_with_a_port_validates_against_its_own_signature() {
        let url = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        let sig = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=";
        assert_eq!(validate_form(TOKEN, url, &official_params(), sig), Ok(()));
    }

    #[test]
    fn https_url_without_a_port_accepts_a_signature_made_with_443() {
        let sig = "kvajT1Ptam85bY51eRf/AJRuM3w=";
        assert_eq!(validate_form(TOKEN, URL, &official_params(), sig), Ok(()));
    }

    #[test]
    fn http_url_without_a_port_accepts_a_signature_made_with_80() {
        let url = "http://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = "0ZXoZLH/DfblKGATFgpif+LLRf4=";
        assert_eq!(validate_form(TOKEN, url, &official_params(), sig), Ok(()));
    }

    #[test]
    fn host_case_is_not_normalised() {
        let url = "https://MyCompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            compute_signature(TOKEN, url, &official_params()),
            "g9IN/x4Cft2g517EjYvEvM/W7LU="
        );
        let lower_sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(validate_form(TOKEN, url, &official_params(), lower_sig).is_err());
    }

    #[test]
    fn api_snippets_vector_validates() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            validate_form(TOKEN, URL, &params, "GvWf1cFY/Q7PnoempGyD5oXAezc="),
            Ok(())
        );
    }

    #[test]
    fn body_hash_matches_the_official_vector() {
        assert_eq!(body_sha256(BODY.as_bytes()), BODY_HASH);
    }

    #[test]
    fn json_body_with_body_hash_validates() {
        let url = format!("{URL}&bodySHA256={BODY_HASH}");
        let r = validate_json(TOKEN, &url, BODY.as_bytes(), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn json_body_hash_as_the_only_query_parameter_validates() {
        let url = format!("https://mycompany.com/myapp.php?bodySHA256={BODY_HASH}");
        let r = validate_json(TOKEN, &url, BODY.as_bytes(), "y77kIzt2vzLz71DgmJGsen2scGs=");
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn json_body_without_body_hash_is_rejected() {
        let r = validate_json(TOKEN, URL, BODY.as_bytes(), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert_eq!(r, Err(SignatureError::MissingBodyHash));
    }

    #[test]
    fn tampered_json_body_is_rejected() {
        let url = format!("{URL}&bodySHA256={BODY_HASH}");
        let tampered = BODY.replace("true", "false");
        let r = validate_json(
            TOKEN,
            &url,
            tampered.as_bytes(),
            "a9nBmqA0ju/hNViExpshrM61xv4=",
        );
        assert_eq!(r, Err(SignatureError::BodyHashMismatch));
    }

    #[test]
    fn generated_form_requests_round_trip_through_the_raw_body() {
        let url = "https://voice.example.org/twilio/7/status?attempt=3";
        let body =
            "CallSid=CAabc&CallStatus=completed&StatusCallbackEvent=x&StatusCallbackEvent=a%20b";
        let params = parse_form(body.as_bytes());
        let sig = compute_signature("s3cr3t", url, &params);
        let ok = validate_request("s3cr3t", url, BodyKind::Form, body.as_bytes(), Some(&sig));
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn tampered_parameter_is_rejected() {
        let url = "https://voice.example.org/twilio/7/status";
        let body = "CallSid=CAabc&CallStatus=completed&CallDuration=30";
        let sig = compute_signature("s3cr3t", url, &parse_form(body.as_bytes()));
        let tampered = body.replace("30", "31");
        let r = validate_request(
            "s3cr3t",
            url,
            BodyKind::Form,
            tampered.as_bytes(),
            Some(&sig),
        );
        assert_eq!(r, Err(SignatureError::Mismatch));
        let added = format!("{body}&Extra=1");
        let r = validate_request("s3cr3t", url, BodyKind::Form, added.as_bytes(), Some(&sig));
        assert_eq!(r, Err(SignatureError::Mismatch));
    }

    #[test]
    fn tampered_url_is_rejected() {
        let url = "https://voice.example.org/twilio/7/status";
        let body = "CallSid=CAabc&CallStatus=completed";
        let sig = compute_signature("s3cr3t", url, &parse_form(body.as_bytes()));
        for other in [
            "https://voice.example.org/twilio/8/status",
            "https://voice.example.org/twilio/7/status?x=1",
            "http://voice.example.org/twilio/7/status",
        ] {
            let r = validate_request("s3cr3t", other, BodyKind::Form, body.as_bytes(), Some(&sig));
            assert_eq!(r, Err(SignatureError::Mismatch), "{other}");
        }
    }

    #[test]
    fn another_accounts_token_is_rejected() {
        let url = "https://voice.example.org/twilio/7/status";
        let body = "CallSid=CAabc";
        let sig = compute_signature("token-of-client-7", url, &parse_form(body.as_bytes()));
        let r = validate_request(
            "token-of-client-8",
            url,
            BodyKind::Form,
            body.as_bytes(),
            Some(&sig),
        );
        assert_eq!(r, Err(SignatureError::Mismatch));
    }

    #[test]
    fn missing_or_garbled_header_is_rejected() {
        let url = "https://voice.example.org/twilio/7/status";
        let r = validate_request("t", url, BodyKind::Form, b"", None);
        assert_eq!(r, Err(SignatureError::Missing));
        let r = validate_request("t", url, BodyKind::Form, b"", Some("not base64!"));
        assert_eq!(r, Err(SignatureError::Malformed));
        let r = validate_request("t", url, BodyKind::Form, b"", Some("AAAA"));
        assert_eq!(r, Err(SignatureError::Malformed));
    }

    #[test]
    fn webhook_url_joins_the_public_base_and_the_request_target() {
        assert_eq!(
            webhook_url("https://p.example/", "/twilio/7/status?call_id=42"),
            "https://p.example/twilio/7/status?call_id=42"
        );
        assert_eq!(
            webhook_url("https://p.example/base", "twilio/7/amd"),
            "https://p.example/base/twilio/7/amd"
        );
    }

    #[test]
    fn content_type_selects_the_body_kind() {
        assert_eq!(
            BodyKind::from_content_type(Some("application/json; charset=utf-8")),
            BodyKind::Json
        );
        assert_eq!(
            BodyKind::from_content_type(Some("application/x-www-form-urlencoded")),
            BodyKind::Form
        );
        assert_eq!(BodyKind::from_content_type(None), BodyKind::Form);
    }

    #[test]
    fn port_variants_respect_user_info_and_ipv6() {
        assert_eq!(
            without_port("https://u:p@h.com:8443/x"),
            Some("https://u:p@h.com/x".to_string())
        );
        assert_eq!(
            with_default_port("https://u:p@h.com/x"),
            Some("https://u:p@h.com:443/x".to_string())
        );
        assert_eq!(without_port("http://[::1]/x"), None);
        assert_eq!(
            with_default_port("http://[::1]?q=1"),
            Some("http://[::1]:80?q=1".to_string())
        );
    }
}
