//! Server-rendered SVG charts for the report pages: a bar chart (calls per hour, outcome mix,
//! abandon rate per day with the cap drawn across) and an agent's voice-state timeline. Each
//! chart has a `<title>` and sits beside a table with the same figures, so the page reads
//! without the picture and without JavaScript. Labels are escaped here.

use palera_store::reports::StateSpan;
use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 200.0;
const PAD: f64 = 28.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A bar per `(label, value)`; `cap` draws a dashed line at that value (the abandon cap).
pub fn bars(title: &str, data: &[(String, f64)], cap: Option<f64>) -> String {
    let top = data
        .iter()
        .map(|d| d.1)
        .chain(cap)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = data.len().max(1) as f64;
    let bw = (W - 2.0 * PAD) / n;
    let y = |v: f64| H - PAD - (H - 2.0 * PAD) * v / top;
    let mut s = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        esc(title)
    );
    let _ = write!(
        s,
        "<line x1=\"{PAD}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#888\"/>",
        H - PAD,
        W - PAD
    );
    for (i, (label, v)) in data.iter().enumerate() {
        let x = PAD + i as f64 * bw;
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#3b6ea8\"><title>{}: {}</title></rect>",
            x + 1.0,
            y(*v),
            (bw - 2.0).max(1.0),
            (H - PAD - y(*v)).max(0.0),
            esc(label),
            v
        );
        if data.len() <= 31 || i % 2 == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                x + bw / 2.0,
                H - PAD + 12.0,
                esc(label)
            );
        }
    }
    if let Some(c) = cap {
        let _ = write!(
            s,
            "<line x1=\"{PAD}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#c0392b\" stroke-dasharray=\"6 4\"/><text x=\"{1}\" y=\"{2:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#c0392b\">cap {c}</text>",
            y(c),
            W - PAD,
            y(c) - 3.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"{PAD}\" y=\"12\" font-size=\"10\">max {top}</text></svg>"
    );
    s
}

fn state_colour(state: &str) -> &'static str {
    match state {
        "ready" => "#2e8b57",
        "standby" => "#d4a017",
        _ => "#999999",
    }
}

/// An agent's voice states from `from_ms` to `to_ms` as coloured bands.
pub fn timeline(spans: &[StateSpan], from_ms: i64, to_ms: i64) -> String {
    let width = (to_ms - from_ms).max(1) as f64;
    let x = |t: i64| PAD + (W - 2.0 * PAD) * (t - from_ms).clamp(0, to_ms - from_ms) as f64 / width;
    let mut s = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {W} 60\" width=\"{W}\" height=\"60\" xmlns=\"http://www.w3.org/2000/svg\"><title>Voice state timeline</title>"
    );
    for sp in spans {
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"10\" width=\"{:.1}\" height=\"30\" fill=\"{}\"><title>{}</title></rect>",
            x(sp.from_ms),
            (x(sp.to_ms) - x(sp.from_ms)).max(0.5),
            state_colour(&sp.state),
            esc(&sp.state)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{PAD}\" y=\"54\" font-size=\"10\">ready</text><rect x=\"{0}\" y=\"46\" width=\"10\" height=\"10\" fill=\"#2e8b57\"/>\
         <text x=\"{1}\" y=\"54\" font-size=\"10\">standby</text><rect x=\"{2}\" y=\"46\" width=\"10\" height=\"10\" fill=\"#d4a017\"/>\
         <text x=\"{3}\" y=\"54\" font-size=\"10\">offline</text><rect x=\"{4}\" y=\"46\" width=\"10\" height=\"10\" fill=\"#999999\"/></svg>",
        PAD + 30.0,
        PAD + 60.0,
        PAD + 100.0,
        PAD + 130.0,
        PAD + 166.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_labels_are_escaped_and_every_bar_is_drawn() {
        let svg = bars(
            "Outcome <mix>",
            &[("a<b".into(), 2.0), ("c".into(), 4.0)],
            Some(3.0),
        );
        assert!(svg.contains("Outcome &lt;mix&gt;"));
        assert!(!svg.contains("a<b"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("cap 3"));
    }

    #[test]
    fn the_timeline_draws_one_band_per_state_span() {
        let spans = vec![
            StateSpan {
                state: "ready".into(),
                from_ms: 0,
                to_ms: 50,
            },
            StateSpan {
                state: "offline".into(),
                from_ms: 50,
                to_ms: 100,
            },
        ];
        let svg = timeline(&spans, 0, 100);
        assert_eq!(svg.matches("<title>ready</title>").count(), 1);
        assert_eq!(svg.matches("<title>offline</title>").count(), 1);
    }
}
