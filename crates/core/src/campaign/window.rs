//! Calling windows in the contact's own time zone (DESIGN §2.1). Owns the question "may this
//! contact be called at this instant?": the campaign hours in local time, excluded weekdays and
//! dates, and — when the contact's zone is unknown — the zones derived from the phone number
//! (NANP area code, else country), requiring the window to be open in every one of them.
//! chrono-tz makes every conversion DST-correct.

use super::settings::CallingWindow;
use crate::phone::PhoneNumber;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Where the zones used for a contact came from; a dial is allowed only when the window is open
/// in every zone listed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TimeZoneSource {
    /// The contact's own zone.
    Contact(Tz),
    /// Derived from the number (area code or country); one or more candidate zones.
    Number(Vec<Tz>),
    /// Nothing known: the contact must not be called.
    Unknown,
}

impl TimeZoneSource {
    /// Resolves the zones of a contact: its own zone when set, otherwise derived from the number.
    pub fn resolve(zone: Option<Tz>, number: &PhoneNumber) -> Self {
        if let Some(z) = zone {
            return TimeZoneSource::Contact(z);
        }
        let zones = zones_for_number(number);
        if zones.is_empty() {
            TimeZoneSource::Unknown
        } else {
            TimeZoneSource::Number(zones)
        }
    }

    fn zones(&self) -> &[Tz] {
        match self {
            TimeZoneSource::Contact(z) => std::slice::from_ref(z),
            TimeZoneSource::Number(zs) => zs,
            TimeZoneSource::Unknown => &[],
        }
    }

    /// Whether the window is open at `now` in every zone (never, when no zone is known).
    pub fn window_open(&self, window: &CallingWindow, now: DateTime<Utc>) -> bool {
        let zones = self.zones();
        !zones.is_empty() && zones.iter().all(|tz| is_open_in_zone(window, *tz, now))
    }
}

/// Whether `now` falls inside the window in zone `tz`.
pub fn is_open_in_zone(window: &CallingWindow, tz: Tz, now: DateTime<Utc>) -> bool {
    let local = now.with_timezone(&tz).naive_local();
    if window.excluded_weekdays.contains(&local.weekday())
        || window.excluded_dates.contains(&local.date())
    {
        return false;
    }
    let t = local.time();
    t >= window.start && t < window.end
}

/// The contact's local calendar date at `now` (a cadence day, DESIGN §1 "cycle").
pub fn local_date(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The first instant of `date` in zone `tz`. Where a DST jump skips midnight, the first valid
/// local time after it is used.
pub fn start_of_local_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut t = date.and_time(NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(dt) = tz.from_local_datetime(&t).earliest() {
            return dt.with_timezone(&Utc);
        }
        t += chrono::Duration::minutes(30);
    }
    // No zone skips more than two hours; fall back to noon UTC-ish of that date.
    Utc.from_utc_datetime(&date.and_hms_opt(12, 0, 0).expect("valid time"))
}

/// Zones a number may be in: the NANP area-code table for +1 numbers, else the country's zones.
pub fn zones_for_number(number: &PhoneNumber) -> Vec<Tz> {
    let digits = &number.as_str()[1..];
    if let Some(rest) = digits.strip_prefix('1') {
        if let Some(tz) = rest.get(0..3).and_then(nanp_area_zone) {
            return vec![tz];
        }
    }
    number
        .country()
        .map(|c| country_zones(&c).to_vec())
        .unwrap_or_default()
}

/// A small table of NANP area codes → zone. Not exhaustive: unknown codes fall back to the
/// country's zones, which is the safe direction (the window must be open in all of them).
fn nanp_area_zone(code: &str) -> Option<Tz> {
    use chrono_tz::America::*;
    let tz = match code {
        "201" | "202" | "203" | "212" | "215" | "216" | "301" | "305" | "404" | "407" | "410"
        | "413" | "434" | "516" | "518" | "585" | "617" | "646" | "703" | "704" | "716" | "718"
        | "757" | "786" | "813" | "908" | "917" | "919" | "973" => New_York,
        "313" | "248" | "586" | "734" | "810" => Detroit,
        "214" | "281" | "312" | "314" | "504" | "512" | "615" | "612" | "713" | "773" | "816"
        | "817" | "832" | "901" | "952" | "972" => Chicago,
        "303" | "385" | "406" | "505" | "719" | "720" | "801" => Denver,
        "480" | "520" | "602" | "623" | "928" => Phoenix,
        "206" | "213" | "253" | "310" | "323" | "408" | "415" | "503" | "510" | "562" | "619"
        | "626" | "650" | "702" | "714" | "818" | "858" | "909" | "916" | "949" => Los_Angeles,
        "907" => Anchorage,
        "416" | "437" | "613" | "647" | "905" | "514" | "438" | "418" | "819" => Toronto,
        "604" | "778" | "236" | "250" => Vancouver,
        "403" | "587" | "780" | "825" => Edmonton,
        "204" | "431" => Winnipeg,
        "902" | "782" => Halifax,
        "709" => St_Johns,
        "808" => return Some(chrono_tz::Pacific::Honolulu),
        _ => return None,
    };
    Some(tz)
}

/// The zones of every country (ISO 3166 alpha-2), from the IANA time zone database's `zone.tab`
/// (country code and zone name, one zone a line). A country the table does not know has no zone.
fn country_zones(country: &str) -> &'static [Tz] {
    static TABLE: OnceLock<HashMap<&'static str, Vec<Tz>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut map: HashMap<&'static str, Vec<Tz>> = HashMap::new();
        for line in include_str!("country_zones.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
        {
            let Some((code, zone)) = line.split_once('\t') else {
                continue;
            };
            // A zone the compiled tz data lacks is left out rather than guessed.
            if let Ok(tz) = zone.parse::<Tz>() {
                map.entry(code).or_default().push(tz);
            }
        }
        map
    });
    table.get(country).map(Vec::as_slice).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn window(start: u32, end: u32) -> CallingWindow {
        CallingWindow {
            start: NaiveTime::from_hms_opt(start, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(end, 0, 0).unwrap(),
            ..Default::default()
        }
    }

    fn zones_of(e164: &str) -> Vec<&'static str> {
        let n = PhoneNumber::parse_e164(e164).unwrap();
        zones_for_number(&n).iter().map(|z| z.name()).collect()
    }

    #[test]
    fn a_number_of_any_country_has_its_countrys_zones() {
        // Countries beyond a hand-picked few: one zone, several zones, and a NANP area code.
        assert_eq!(zones_of("+81312345678"), ["Asia/Tokyo"]);
        assert_eq!(zones_of("+6561234567"), ["Asia/Singapore"]);
        assert_eq!(zones_of("+27211234567"), ["Africa/Johannesburg"]);
        let au = zones_of("+61291234567");
        assert!(au.contains(&"Australia/Perth") && au.contains(&"Australia/Sydney"));
        assert!(
            zones_of("+74951234567").len() > 5,
            "Russia spans many zones"
        );
        assert_eq!(zones_of("+12125550199"), ["America/New_York"]);
        // An unknown US area code falls back to every US zone, Hawaii included.
        assert!(zones_of("+19895550123").contains(&"Pacific/Honolulu"));
    }

    #[test]
    fn every_zone_of_the_country_table_is_known_to_chrono_tz() {
        let lines = include_str!("country_zones.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'));
        for line in lines {
            let (code, zone) = line.split_once('\t').expect("code<TAB>zone");
            assert_eq!(code.len(), 2, "{line}");
            assert!(zone.parse::<Tz>().is_ok(), "{zone} is not a chrono-tz zone");
        }
    }

    #[test]
    fn window_is_read_in_the_contacts_local_time() {
        let w = CallingWindow::default();
        let ny = chrono_tz::America::New_York;
        // 12:30 UTC in winter is 07:30 in New York: too early.
        assert!(!is_open_in_zone(&w, ny, utc("2026-01-15T12:30:00Z")));
        assert!(is_open_in_zone(&w, ny, utc("2026-01-15T13:00:00Z")));
        // 21:00 local is already closed.
        assert!(!is_open_in_zone(&w, ny, utc("2026-01-16T02:00:00Z")));
    }

    #[test]
    fn never_dials_outside_the_calling_window_across_dst() {
        let w = window(8, 21);
        let ny = chrono_tz::America::New_York;
        // 2026-03-08 US spring-forward: 12:30 UTC is 08:30 EDT (open), the day before 07:30 EST.
        assert!(!is_open_in_zone(&w, ny, utc("2026-03-07T12:30:00Z")));
        assert!(is_open_in_zone(&w, ny, utc("2026-03-08T12:30:00Z")));
        // 2026-11-01 fall-back: 12:30 UTC is 07:30 EST (closed).
        assert!(!is_open_in_zone(&w, ny, utc("2026-11-01T12:30:00Z")));
        assert!(is_open_in_zone(&w, ny, utc("2026-10-31T12:30:00Z")));
    }

    #[test]
    fn excluded_weekdays_and_dates_are_never_called() {
        let mut w = window(8, 21);
        w.excluded_weekdays = vec![Weekday::Sun];
        w.excluded_dates = vec![NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()];
        let ny = chrono_tz::America::New_York;
        assert!(!is_open_in_zone(&w, ny, utc("2026-03-01T15:00:00Z"))); // Sunday
        assert!(!is_open_in_zone(&w, ny, utc("2026-03-02T15:00:00Z"))); // excluded date
        assert!(is_open_in_zone(&w, ny, utc("2026-03-03T15:00:00Z")));
    }

    #[test]
    fn unknown_zone_is_derived_from_the_area_code() {
        let n = PhoneNumber::parse_e164("+14155550100").unwrap();
        assert_eq!(zones_for_number(&n), vec![chrono_tz::America::Los_Angeles]);
        let src = TimeZoneSource::resolve(None, &n);
        let w = window(8, 21);
        // 15:30 UTC = 07:30 PST: closed in LA though open in New York.
        assert!(!src.window_open(&w, utc("2026-01-15T15:30:00Z")));
        assert!(src.window_open(&w, utc("2026-01-15T16:30:00Z")));
    }

    #[test]
    fn still_unknown_zone_calls_only_when_open_in_every_zone_of_the_country() {
        let n = PhoneNumber::parse_e164("+61291234567").unwrap(); // Sydney number, no area table
        let src = TimeZoneSource::resolve(None, &n);
        assert!(matches!(src, TimeZoneSource::Number(ref z) if z.len() > 1));
        let w = window(8, 21);
        // 22:30 UTC Jan = 09:30 Sydney (open) but 06:30 Perth (closed).
        assert!(!src.window_open(&w, utc("2026-01-15T22:30:00Z")));
        // 02:00 UTC = 13:00 Sydney, 10:00 Perth: open everywhere.
        assert!(src.window_open(&w, utc("2026-01-16T02:00:00Z")));
    }

    #[test]
    fn start_of_local_day_survives_dst() {
        let ny = chrono_tz::America::New_York;
        let d = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(start_of_local_day(ny, d), utc("2026-03-08T05:00:00Z"));
        let d = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        assert_eq!(start_of_local_day(ny, d), utc("2026-03-09T04:00:00Z"));
    }
}
