//! Properties of Twilio webhook signatures, for all parameter sets: a signature made the way
//! Twilio makes it validates whatever order the parameters arrive in (repeated keys included),
//! and changing any one value, dropping any one pair, or changing the URL makes it fail.

use palera_carrier::twilio::signature::{compute_signature, validate_form};
use proptest::prelude::*;

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    // Few distinct names, so repeated keys are common.
    prop::collection::vec(("[A-D][a-z]{0,3}", "[ -~]{0,12}"), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_twilio_signature_validates_in_any_parameter_order(
        p in params(),
        seed in any::<u64>(),
        call_id in 1u32..100_000,
    ) {
        let url = format!("https://voice.example.com/twilio/3/status?call_id={call_id}");
        let sig = compute_signature("token", &url, &p);
        let mut shuffled = p.clone();
        // A deterministic shuffle from the seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(validate_form("token", &url, &shuffled, &sig), Ok(()));
    }

    #[test]
    fn changing_a_value_dropping_a_pair_or_changing_the_url_fails(
        // Distinct pairs (repeated keys with different values stay common): with identical
        // pairs the validators' deduplicated payload is a second valid spelling.
        p in params().prop_filter("distinct pairs", |p| {
            p.iter().collect::<std::collections::HashSet<_>>().len() == p.len()
        }),
        which in any::<prop::sample::Index>(),
        extra in "[!-~]{1,4}",
    ) {
        let url = "https://voice.example.com/twilio/3/status?call_id=5";
        let sig = compute_signature("token", url, &p);
        let i = which.index(p.len());
        let mut changed = p.clone();
        changed[i].1.push_str(&extra);
        if !p.contains(&changed[i]) {
            prop_assert!(validate_form("token", url, &changed, &sig).is_err());
        }
        let mut dropped = p.clone();
        dropped.remove(i);
        prop_assert!(validate_form("token", url, &dropped, &sig).is_err());
        let other = "https://voice.example.com/twilio/3/status?call_id=6";
        prop_assert!(validate_form("token", other, &p, &sig).is_err());
        prop_assert!(validate_form("other-token", url, &p, &sig).is_err());
    }
}
