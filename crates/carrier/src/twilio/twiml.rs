//! TwiML, the XML Twilio executes on a call, built from typed verbs. Owns the document model and
//! its serialisation: attribute names are fixed by the types, every attribute value and text
//! node coming from callers is escaped here, so no input can change the document's structure.
//!
//! ```
//! use palera_carrier::twilio::twiml::{Response, Play};
//! let xml = Response::new().play(Play::new("https://x.test/a.mp3")).hangup().to_xml();
//! assert!(xml.ends_with("<Response><Play>https://x.test/a.mp3</Play><Hangup/></Response>"));
//! ```

use std::fmt::Write;

/// HTTP method Twilio uses to fetch a URL named in TwiML or a REST parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// An XML node of a TwiML document.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Element(Element),
    Text(String),
}

/// An element: the name and attribute names come from this module, values from callers.
#[derive(Debug, Clone, PartialEq)]
struct Element {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    children: Vec<Node>,
}

impl Element {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.retain(|(n, _)| *n != name);
        self.attrs.push((name, value.into()));
        self
    }

    fn flag(self, name: &'static str, value: bool) -> Self {
        self.attr(name, if value { "true" } else { "false" })
    }

    fn text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.name);
        for (name, value) in &self.attrs {
            let _ = write!(out, " {name}=\"");
            escape_into(out, value, true);
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write(out),
                Node::Text(t) => escape_into(out, t, false),
            }
        }
        let _ = write!(out, "</{}>", self.name);
    }
}

/// Escapes `input` for XML text (`attr == false`) or a double-quoted attribute value.
/// Characters XML 1.0 cannot carry at all (most C0 controls) are dropped rather than emitted,
/// since Twilio would reject the whole document.
fn escape_into(out: &mut String, input: &str, attr: bool) {
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            // Attribute-value normalisation would turn raw whitespace into spaces.
            '\n' if attr => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

fn join_events<E: AsRef<str>>(events: &[E]) -> String {
    events
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A whole TwiML document: `<Response>` and its verbs in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    verbs: Vec<Element>,
}

impl Response {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn play(self, play: Play) -> Self {
        self.verb(play.0)
    }

    pub fn say(self, say: Say) -> Self {
        self.verb(say.0)
    }

    /// `<Pause length="seconds"/>`.
    pub fn pause(self, seconds: u32) -> Self {
        self.verb(Element::new("Pause").attr("length", seconds.to_string()))
    }

    pub fn hangup(self) -> Self {
        self.verb(Element::new("Hangup"))
    }

    /// `<Leave/>`: in an `<Enqueue>` wait document, takes the caller out of the queue (the
    /// `<Enqueue>` action URL then decides what happens next).
    pub fn leave(self) -> Self {
        self.verb(Element::new("Leave"))
    }

    /// `<Redirect method="…">url</Redirect>`: continue with the TwiML at `url`.
    pub fn redirect(self, url: impl Into<String>, method: Method) -> Self {
        self.verb(
            Element::new("Redirect")
                .attr("method", method.as_str())
                .text(url),
        )
    }

    pub fn dial(self, dial: Dial) -> Self {
        self.verb(dial.0)
    }

    pub fn enqueue(self, enqueue: Enqueue) -> Self {
        self.verb(enqueue.0)
    }

    pub fn record(self, record: Record) -> Self {
        self.verb(record.0)
    }

    /// `<Start>`: forks (real-time transcription, background recording) that run beside the call.
    pub fn start(self, start: Start) -> Self {
        self.verb(start.0)
    }

    /// `<Stop><Transcription name="…"/></Stop>`: ends a named real-time transcription.
    pub fn stop_transcription(self, name: impl Into<String>) -> Self {
        let t = Element::new("Transcription").attr("name", name);
        self.verb(Element::new("Stop").child(t))
    }

    fn verb(mut self, element: Element) -> Self {
        self.verbs.push(element);
        self
    }

    /// The document with its XML declaration, ready to serve or pass as `Twiml`.
    pub fn to_xml(&self) -> String {
        let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let mut root = Element::new("Response");
        root.children = self.verbs.iter().cloned().map(Node::Element).collect();
        root.write(&mut out);
        out
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_xml())
    }
}

/// `<Play>url</Play>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Play(Element);

impl Play {
    pub fn new(url: impl Into<String>) -> Self {
        Self(Element::new("Play").text(url))
    }

    /// How many times to play; 0 loops until the call ends.
    pub fn loop_count(self, n: u32) -> Self {
        Self(self.0.attr("loop", n.to_string()))
    }
}

/// `<Say>text</Say>` (text-to-speech).
#[derive(Debug, Clone, PartialEq)]
pub struct Say(Element);

impl Say {
    pub fn new(text: impl Into<String>) -> Self {
        Self(Element::new("Say").text(text))
    }

    pub fn voice(self, voice: impl Into<String>) -> Self {
        Self(self.0.attr("voice", voice))
    }

    pub fn language(self, language: impl Into<String>) -> Self {
        Self(self.0.attr("language", language))
    }

    pub fn loop_count(self, n: u32) -> Self {
        Self(self.0.attr("loop", n.to_string()))
    }
}

/// `<Dial>` with one noun (conference or browser client).
#[derive(Debug, Clone, PartialEq)]
pub struct Dial(Element);

impl Dial {
    pub fn conference(conference: Conference) -> Self {
        Self(Element::new("Dial").child(conference.0))
    }

    /// Rings the browser softphone registered as `identity`.
    pub fn client(identity: impl Into<String>) -> Self {
        let client = Element::new("Client").child(Element::new("Identity").text(identity));
        Self(Element::new("Dial").child(client))
    }

    /// Seconds to ring the dialled party.
    pub fn timeout(self, seconds: u32) -> Self {
        Self(self.0.attr("timeout", seconds.to_string()))
    }

    pub fn caller_id(self, caller_id: impl Into<String>) -> Self {
        Self(self.0.attr("callerId", caller_id))
    }

    /// URL requested when the dialled party hangs up or does not answer.
    pub fn action(self, url: impl Into<String>, method: Method) -> Self {
        Self(self.0.attr("action", url).attr("method", method.as_str()))
    }

    /// Keep the caller hearing ringing (not silence) until the other side answers.
    pub fn answer_on_bridge(self, on: bool) -> Self {
        Self(self.0.flag("answerOnBridge", on))
    }
}

/// Conference events reported to a `<Conference statusCallback>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConferenceEvent {
    Start,
    End,
    Join,
    Leave,
    Mute,
    Hold,
    Modify,
    Speaker,
    Announcement,
}

impl AsRef<str> for ConferenceEvent {
    fn as_ref(&self) -> &str {
        match self {
            Self::Start => "start",
            Self::End => "end",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Mute => "mute",
            Self::Hold => "hold",
            Self::Modify => "modify",
            Self::Speaker => "speaker",
            Self::Announcement => "announcement",
        }
    }
}

/// `<Conference>name</Conference>` inside a `<Dial>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conference(Element);

impl Conference {
    pub fn new(name: impl Into<String>) -> Self {
        Self(Element::new("Conference").text(name))
    }

    pub fn start_conference_on_enter(self, on: bool) -> Self {
        Self(self.0.flag("startConferenceOnEnter", on))
    }

    pub fn end_conference_on_exit(self, on: bool) -> Self {
        Self(self.0.flag("endConferenceOnExit", on))
    }

    /// Audio or TwiML played while waiting for the conference to start.
    pub fn wait_url(self, url: impl Into<String>, method: Method) -> Self {
        Self(
            self.0
                .attr("waitUrl", url)
                .attr("waitMethod", method.as_str()),
        )
    }

    /// `beep`: `true`, `false`, `onEnter` or `onExit`.
    pub fn beep(self, beep: bool) -> Self {
        Self(self.0.flag("beep", beep))
    }

    pub fn muted(self, on: bool) -> Self {
        Self(self.0.flag("muted", on))
    }

    pub fn participant_label(self, label: impl Into<String>) -> Self {
        Self(self.0.attr("participantLabel", label))
    }

    pub fn max_participants(self, n: u32) -> Self {
        Self(self.0.attr("maxParticipants", n.to_string()))
    }

    /// Conference events posted to `url` (space-separated in TwiML).
    pub fn status_callback(self, url: impl Into<String>, events: &[ConferenceEvent]) -> Self {
        let el = self
            .0
            .attr("statusCallback", url)
            .attr("statusCallbackMethod", "POST");
        if events.is_empty() {
            return Self(el);
        }
        Self(el.attr("statusCallbackEvent", join_events(events)))
    }

    /// `record="record-from-start"` and where to report the recording.
    pub fn record_from_start(self, recording_status_callback: impl Into<String>) -> Self {
        Self(
            self.0
                .attr("record", "record-from-start")
                .attr("recordingStatusCallback", recording_status_callback)
                .attr("recordingStatusCallbackMethod", "POST"),
        )
    }
}

/// `<Enqueue>queue</Enqueue>`: parks the caller in a named queue with hold music.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueue(Element);

impl Enqueue {
    pub fn new(queue: impl Into<String>) -> Self {
        Self(Element::new("Enqueue").text(queue))
    }

    pub fn wait_url(self, url: impl Into<String>, method: Method) -> Self {
        Self(
            self.0
                .attr("waitUrl", url)
                .attr("waitUrlMethod", method.as_str()),
        )
    }

    pub fn action(self, url: impl Into<String>, method: Method) -> Self {
        Self(self.0.attr("action", url).attr("method", method.as_str()))
    }
}

/// `<Record/>`: records the caller (voicemail).
#[derive(Debug, Clone, PartialEq)]
pub struct Record(Element);

impl Record {
    pub fn new() -> Self {
        Self(Element::new("Record"))
    }

    pub fn action(self, url: impl Into<String>, method: Method) -> Self {
        Self(self.0.attr("action", url).attr("method", method.as_str()))
    }

    pub fn max_length(self, seconds: u32) -> Self {
        Self(self.0.attr("maxLength", seconds.to_string()))
    }

    pub fn play_beep(self, on: bool) -> Self {
        Self(self.0.flag("playBeep", on))
    }

    pub fn finish_on_key(self, keys: impl Into<String>) -> Self {
        Self(self.0.attr("finishOnKey", keys))
    }

    pub fn recording_status_callback(self, url: impl Into<String>) -> Self {
        Self(
            self.0
                .attr("recordingStatusCallback", url)
                .attr("recordingStatusCallbackMethod", "POST"),
        )
    }
}

impl Default for Record {
    fn default() -> Self {
        Self::new()
    }
}

/// `<Start>` and the forks it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Start(Element);

impl Start {
    pub fn new() -> Self {
        Self(Element::new("Start"))
    }

    pub fn transcription(self, t: Transcription) -> Self {
        Self(self.0.child(t.0))
    }

    /// `<Recording channels="dual" …/>`: a background recording of the call.
    pub fn dual_channel_recording(self, recording_status_callback: impl Into<String>) -> Self {
        let rec = Element::new("Recording")
            .attr("channels", "dual")
            .attr("recordingStatusCallback", recording_status_callback)
            .attr("recordingStatusCallbackMethod", "POST")
            .attr(
                "recordingStatusCallbackEvent",
                "in-progress completed absent",
            );
        Self(self.0.child(rec))
    }
}

impl Default for Start {
    fn default() -> Self {
        Self::new()
    }
}

/// Which audio a transcription or stream listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Inbound,
    Outbound,
    Both,
}

impl Track {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound_track",
            Self::Outbound => "outbound_track",
            Self::Both => "both_tracks",
        }
    }
}

/// `<Transcription>`: Twilio real-time transcription, events posted to `statusCallbackUrl`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription(Element);

impl Transcription {
    pub fn new(name: impl Into<String>, status_callback_url: impl Into<String>) -> Self {
        Self(
            Element::new("Transcription")
                .attr("name", name)
                .attr("statusCallbackUrl", status_callback_url)
                .attr("statusCallbackMethod", "POST"),
        )
    }

    pub fn track(self, track: Track) -> Self {
        Self(self.0.attr("track", track.as_str()))
    }

    /// Labels that name the speakers of each track in transcription events.
    pub fn track_labels(self, inbound: impl Into<String>, outbound: impl Into<String>) -> Self {
        Self(
            self.0
                .attr("inboundTrackLabel", inbound)
                .attr("outboundTrackLabel", outbound),
        )
    }

    pub fn partial_results(self, on: bool) -> Self {
        Self(self.0.flag("partialResults", on))
    }

    pub fn language_code(self, code: impl Into<String>) -> Self {
        Self(self.0.attr("languageCode", code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    fn body(r: &Response) -> String {
        r.to_xml()
            .strip_prefix(DECL)
            .expect("declaration first")
            .to_string()
    }

    #[test]
    fn empty_response_is_a_self_closed_root() {
        assert_eq!(body(&Response::new()), "<Response/>");
    }

    #[test]
    fn leave_takes_the_caller_out_of_the_queue() {
        let r = Response::new().say(Say::new("One moment.")).leave();
        assert_eq!(
            body(&r),
            "<Response><Say>One moment.</Say><Leave/></Response>"
        );
    }

    #[test]
    fn voicemail_drop_plays_then_hangs_up() {
        let r = Response::new()
            .play(Play::new("https://cdn.test/vm.mp3"))
            .hangup();
        assert_eq!(
            body(&r),
            "<Response><Play>https://cdn.test/vm.mp3</Play><Hangup/></Response>"
        );
    }

    #[test]
    fn text_is_escaped() {
        let r = Response::new().say(Say::new("Tom & Jerry <b>\"hi\"</b> it's"));
        assert_eq!(
            body(&r),
            "<Response><Say>Tom &amp; Jerry &lt;b&gt;\"hi\"&lt;/b&gt; it's</Say></Response>"
        );
    }

    #[test]
    fn markup_injection_in_text_stays_text() {
        let evil = "x</Say><Dial>+15550000000</Dial><Say>";
        let xml = body(&Response::new().say(Say::new(evil)));
        assert!(!xml.contains("<Dial>"), "{xml}");
        assert_eq!(xml.matches("<Say>").count(), 1);
    }

    #[test]
    fn attribute_values_are_escaped() {
        let url = "https://x.test/w?a=1&b=\"2\"&c='3'<>";
        let r = Response::new().dial(Dial::conference(
            Conference::new("call-1").wait_url(url, Method::Get),
        ));
        let xml = body(&r);
        assert!(
            xml.contains(
                r#"waitUrl="https://x.test/w?a=1&amp;b=&quot;2&quot;&amp;c=&apos;3&apos;&lt;&gt;""#
            ),
            "{xml}"
        );
    }

    #[test]
    fn attribute_injection_cannot_add_attributes() {
        let evil = "a\" endConferenceOnExit=\"true";
        let xml = body(&Response::new().dial(Dial::conference(
            Conference::new("c").participant_label(evil),
        )));
        assert_eq!(
            xml,
            "<Response><Dial><Conference participantLabel=\"a&quot; endConferenceOnExit=&quot;true\">\
             c</Conference></Dial></Response>"
        );
    }

    #[test]
    fn newlines_survive_in_attributes_and_controls_are_dropped() {
        let xml = body(&Response::new().say(Say::new("a\u{1}b\nc").voice("x\ny")));
        assert_eq!(
            xml,
            "<Response><Say voice=\"x&#10;y\">ab\nc</Say></Response>"
        );
    }

    #[test]
    fn conference_dial_carries_its_settings() {
        let r = Response::new().dial(Dial::conference(
            Conference::new("call-42")
                .start_conference_on_enter(true)
                .end_conference_on_exit(true)
                .beep(false)
                .status_callback(
                    "https://p.test/twilio/3/conference",
                    &[
                        ConferenceEvent::Start,
                        ConferenceEvent::Leave,
                        ConferenceEvent::Hold,
                    ],
                ),
        ));
        assert_eq!(
            body(&r),
            "<Response><Dial><Conference startConferenceOnEnter=\"true\" \
             endConferenceOnExit=\"true\" beep=\"false\" \
             statusCallback=\"https://p.test/twilio/3/conference\" statusCallbackMethod=\"POST\" \
             statusCallbackEvent=\"start leave hold\">call-42</Conference></Dial></Response>"
        );
    }

    #[test]
    fn setting_an_attribute_twice_keeps_the_last_value() {
        let xml = body(&Response::new().play(Play::new("u").loop_count(2).loop_count(3)));
        assert_eq!(xml, "<Response><Play loop=\"3\">u</Play></Response>");
    }

    #[test]
    fn client_dial_uses_an_identity_element() {
        let r = Response::new().dial(Dial::client("agent<7>").timeout(20));
        assert_eq!(
            body(&r),
            "<Response><Dial timeout=\"20\"><Client><Identity>agent&lt;7&gt;</Identity>\
             </Client></Dial></Response>"
        );
    }

    #[test]
    fn start_transcription_and_stop() {
        let r = Response::new()
            .start(
                Start::new().transcription(
                    Transcription::new("live", "https://p.test/twilio/3/transcription")
                        .track(Track::Both)
                        .track_labels("contact", "agent")
                        .partial_results(true),
                ),
            )
            .pause(1)
            .stop_transcription("live");
        assert_eq!(
            body(&r),
            "<Response><Start><Transcription name=\"live\" \
             statusCallbackUrl=\"https://p.test/twilio/3/transcription\" \
             statusCallbackMethod=\"POST\" track=\"both_tracks\" inboundTrackLabel=\"contact\" \
             outboundTrackLabel=\"agent\" partialResults=\"true\"/></Start>\
             <Pause length=\"1\"/><Stop><Transcription name=\"live\"/></Stop></Response>"
        );
    }

    #[test]
    fn inbound_queue_redirect_record() {
        let r = Response::new()
            .enqueue(Enqueue::new("client-3").wait_url("https://p.test/hold", Method::Get))
            .record(Record::new().max_length(120).play_beep(true))
            .redirect("https://p.test/next?a=1&b=2", Method::Post);
        assert_eq!(
            body(&r),
            "<Response><Enqueue waitUrl=\"https://p.test/hold\" waitUrlMethod=\"GET\">client-3\
             </Enqueue><Record maxLength=\"120\" playBeep=\"true\"/>\
             <Redirect method=\"POST\">https://p.test/next?a=1&amp;b=2</Redirect></Response>"
        );
    }
}
