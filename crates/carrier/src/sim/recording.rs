//! What the simulated network records and hears: a conversation of speaker-labelled, timed
//! transcript lines chosen from a seed, and a dual-channel WAV file (8 kHz, 16-bit; left = agent,
//! right = contact) made in code from those lines — each line is a burst of tones on its
//! speaker's channel, paused stretches are silent — so the demo's player has something real to
//! play and its transcript lines up with the sound.

use palera_core::recording::{Pause, Speaker, TranscriptLine};

/// Samples per second of the generated file (telephone band).
pub const SAMPLE_RATE: u32 = 8_000;
/// Longest file made, so a long demo call stays a few megabytes.
pub const MAX_MS: u64 = 5 * 60 * 1000;

const CONVERSATIONS: [&[(Speaker, &str)]; 2] = [
    &[
        (
            Speaker::Agent,
            "Hello, this is Sam from Palera. Am I speaking with the account holder?",
        ),
        (Speaker::Contact, "Yes, speaking. What is this about?"),
        (
            Speaker::Agent,
            "Your premium plan renews next month and I wanted to go over the options.",
        ),
        (
            Speaker::Contact,
            "Sure, I was thinking about upgrading the number of seats.",
        ),
        (Speaker::Agent, "Great. How many seats would you need?"),
        (Speaker::Contact, "Probably twelve, starting in March."),
        (
            Speaker::Agent,
            "I can send you a quote for twelve seats today.",
        ),
        (Speaker::Contact, "That works, please email it to me."),
        (
            Speaker::Agent,
            "Done. Thank you for your time, have a good day.",
        ),
        (Speaker::Contact, "Thanks, you too. Goodbye."),
    ],
    &[
        (
            Speaker::Agent,
            "Good afternoon, this is Sam calling from Palera support.",
        ),
        (
            Speaker::Contact,
            "Hi, I had a question about my last invoice.",
        ),
        (
            Speaker::Agent,
            "Of course. Can you confirm the invoice number for me?",
        ),
        (Speaker::Contact, "It is invoice four one seven two."),
        (
            Speaker::Agent,
            "Thank you. I see a duplicate charge, I will refund it now.",
        ),
        (Speaker::Contact, "Perfect, how long will the refund take?"),
        (Speaker::Agent, "Usually three to five business days."),
        (Speaker::Contact, "Okay, thank you for sorting that out."),
    ],
];

/// Milliseconds a line takes to say: about a third of a second a word.
fn speaking_ms(text: &str) -> u64 {
    (text.split_whitespace().count() as u64 * 330).max(600)
}

/// The conversation of a call recorded for `duration_ms`: lines in order, timed from the start of
/// the recording, with a short gap between turns; lines that would end after the call are left out.
pub fn conversation(seed: u64, duration_ms: u64) -> Vec<TranscriptLine> {
    let script = CONVERSATIONS[(seed % CONVERSATIONS.len() as u64) as usize];
    let mut at = 800;
    let mut lines = Vec::new();
    for (seq, (speaker, text)) in script.iter().enumerate() {
        let end = at + speaking_ms(text);
        if end > duration_ms {
            break;
        }
        lines.push(TranscriptLine {
            seq: seq as u32,
            speaker: *speaker,
            start_ms: at,
            end_ms: end,
            text: (*text).to_string(),
        });
        at = end + 500;
    }
    lines
}

/// How long the conversation of `seed` takes to say in full, in milliseconds.
pub fn conversation_ms(seed: u64) -> u64 {
    conversation(seed, u64::MAX)
        .last()
        .map_or(0, |l| l.end_ms + 800)
}

fn paused(pauses: &[Pause], ms: u64) -> bool {
    pauses
        .iter()
        .any(|p| ms >= p.paused_ms && p.resumed_ms.is_none_or(|r| ms < r))
}

/// A dual-channel 16-bit PCM WAV of `duration_ms` (at most [`MAX_MS`]) in which each line of
/// `lines` sounds on its speaker's channel, silent where `pauses` paused the recording.
pub fn wav(lines: &[TranscriptLine], duration_ms: u64, pauses: &[Pause]) -> Vec<u8> {
    let duration_ms = duration_ms.min(MAX_MS);
    let frames = (duration_ms * u64::from(SAMPLE_RATE) / 1000) as u32;
    let data_len = frames * 4;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&2u16.to_le_bytes()); // channels
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 4).to_le_bytes()); // bytes per second
    out.extend_from_slice(&4u16.to_le_bytes()); // bytes per frame
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let ms = u64::from(i) * 1000 / u64::from(SAMPLE_RATE);
        let t = f64::from(i) / f64::from(SAMPLE_RATE);
        let (mut left, mut right) = (0i16, 0i16);
        if !paused(pauses, ms) {
            if let Some(l) = lines.iter().find(|l| ms >= l.start_ms && ms < l.end_ms) {
                // A voice-like burst: two tones, moving every word-length.
                let syllable = ((ms - l.start_ms) / 165) % 4;
                let f = match l.speaker {
                    Speaker::Agent => 220.0,
                    Speaker::Contact => 330.0,
                } * (1.0 + 0.12 * syllable as f64);
                let s = (t * f * std::f64::consts::TAU).sin() * 0.6
                    + (t * f * 2.0 * std::f64::consts::TAU).sin() * 0.25;
                let v = (s * 8_000.0) as i16;
                match l.speaker {
                    Speaker::Agent => left = v,
                    Speaker::Contact => right = v,
                }
            }
        }
        out.extend_from_slice(&left.to_le_bytes());
        out.extend_from_slice(&right.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(wav: &[u8], ms: u64) -> (i16, i16) {
        let i = 44 + (ms * u64::from(SAMPLE_RATE) / 1000) as usize * 4;
        let l = i16::from_le_bytes([wav[i], wav[i + 1]]);
        let r = i16::from_le_bytes([wav[i + 2], wav[i + 3]]);
        (l, r)
    }

    /// The loudest sample of each channel over `from..to` milliseconds.
    fn peak(wav: &[u8], from: u64, to: u64) -> (i16, i16) {
        (from..to).fold((0, 0), |(a, b), ms| {
            let (l, r) = frame(wav, ms);
            (a.max(l.saturating_abs()), b.max(r.saturating_abs()))
        })
    }

    #[test]
    fn the_conversation_is_ordered_timed_and_fits_the_call() {
        let all = conversation(0, u64::MAX);
        assert!(all.len() >= 8);
        for w in all.windows(2) {
            assert!(w[0].end_ms < w[1].start_ms, "turns do not overlap");
            assert_eq!(w[0].seq + 1, w[1].seq);
        }
        let short = conversation(0, 9_000);
        assert!(!short.is_empty() && short.len() < all.len());
        assert!(short.iter().all(|l| l.end_ms <= 9_000));
        assert_ne!(conversation(1, u64::MAX)[0].text, all[0].text);
        assert_eq!(conversation_ms(0), all.last().unwrap().end_ms + 800);
    }

    #[test]
    fn each_speaker_sounds_on_their_own_channel_and_pauses_are_silent() {
        let lines = conversation(0, 20_000);
        let wav = wav(&lines, 20_000, &[]);
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(&wav[8..12], b"WAVE");
        assert_eq!(wav.len(), 44 + 20 * 8_000 * 4);
        let (a, c) = (&lines[0], &lines[1]);
        assert_eq!((a.speaker, c.speaker), (Speaker::Agent, Speaker::Contact));
        let (al, ar) = peak(&wav, a.start_ms, a.end_ms);
        assert!(al > 1_000 && ar == 0, "agent on the left: {al} {ar}");
        let (cl, cr) = peak(&wav, c.start_ms, c.end_ms);
        assert!(cl == 0 && cr > 1_000, "contact on the right: {cl} {cr}");
        let pauses = [Pause {
            paused_ms: c.start_ms,
            resumed_ms: Some(c.end_ms),
        }];
        let quiet = super::wav(&lines, 20_000, &pauses);
        assert_eq!(peak(&quiet, c.start_ms, c.end_ms), (0, 0));
        assert!(peak(&quiet, a.start_ms, a.end_ms).0 > 1_000);
    }
}
