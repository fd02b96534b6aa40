//! R21's deploy windows: the days and hours, in a time zone, when a stage
//! takes releases. Outside them an arriving release is held (the newest
//! one, as at a busy stage) until the window opens.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ids::Millis;
use crate::validation::FieldErrors;

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    fn short(self) -> &'static str {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][self as usize]
    }

    fn of(day: jiff::civil::Weekday) -> Weekday {
        Weekday::ALL[day.to_monday_zero_offset() as usize]
    }
}

/// When a stage takes releases: on `days`, from `start_hour` to `end_hour`
/// (local time in `time_zone`, an IANA name such as `Europe/Berlin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DeployWindow {
    pub days: Vec<Weekday>,
    /// 0–23: the first hour of the window.
    pub start_hour: u8,
    /// 1–24: the hour the window closes (exclusive).
    pub end_hour: u8,
    pub time_zone: String,
}

/// How far ahead the next opening is looked for (a week and a day).
const LOOK_AHEAD_MS: Millis = 8 * 24 * 3_600_000;
/// The step of that search: time zones are offset by quarter hours at the finest.
const STEP_MS: Millis = 15 * 60_000;

impl DeployWindow {
    /// Whether the window is open at `now`. A time zone that is not known
    /// (removed from the system since it was checked) keeps it closed.
    pub fn is_open(&self, now: Millis) -> bool {
        let Ok(zone) = jiff::tz::TimeZone::get(&self.time_zone) else {
            return false;
        };
        let Ok(at) = jiff::Timestamp::from_millisecond(now) else {
            return false;
        };
        let local = at.to_zoned(zone);
        let hour = local.hour() as u8;
        self.days.contains(&Weekday::of(local.weekday()))
            && hour >= self.start_hour
            && hour < self.end_hour
    }

    /// When the window next opens after `now` (`None`: not within a week).
    pub fn next_open(&self, now: Millis) -> Option<Millis> {
        let first = (now / STEP_MS + 1) * STEP_MS;
        (0..LOOK_AHEAD_MS / STEP_MS)
            .map(|i| first + i * STEP_MS)
            .find(|at| self.is_open(*at))
    }

    /// "Mon–Fri 09:00–17:00 Europe/Berlin" (days listed when not a run).
    pub fn describe(&self) -> String {
        let mut days: Vec<Weekday> = Weekday::ALL
            .into_iter()
            .filter(|d| self.days.contains(d))
            .collect();
        days.dedup();
        let run = days.len() > 2
            && days
                .windows(2)
                .all(|pair| pair[1] as usize == pair[0] as usize + 1);
        let days = match (run, days.first(), days.last()) {
            (true, Some(first), Some(last)) => format!("{}–{}", first.short(), last.short()),
            _ => days
                .iter()
                .map(|d| d.short())
                .collect::<Vec<_>>()
                .join(", "),
        };
        format!(
            "{days} {:02}:00–{:02}:00 {}",
            self.start_hour, self.end_hour, self.time_zone
        )
    }
}

/// A window names at least one day, hours that make a span, and a time zone
/// this machine knows.
pub fn check_deploy_window(window: &DeployWindow, errors: &mut FieldErrors) {
    if window.days.is_empty() {
        errors.add("deployWindow.days", "Choose at least one day.");
    }
    if window.start_hour > 23 || window.end_hour > 24 || window.start_hour >= window.end_hour {
        errors.add(
            "deployWindow.hours",
            "The window must start before it ends, within the day (for example 09:00 to 17:00).",
        );
    }
    if jiff::tz::TimeZone::get(&window.time_zone).is_err() {
        errors.add(
            "deployWindow.timeZone",
            format!(
                "\"{}\" is not a time zone this machine knows; use a name such as Europe/Berlin or America/New_York.",
                window.time_zone
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office_hours() -> DeployWindow {
        DeployWindow {
            days: vec![
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ],
            start_hour: 9,
            end_hour: 17,
            time_zone: "Europe/Berlin".into(),
        }
    }

    /// 2026-12-04 is a Friday; Berlin is UTC+1 in December.
    fn utc(day: u8, hour: u8, minute: u8) -> Millis {
        jiff::civil::date(2026, 12, day as i8)
            .at(hour as i8, minute as i8, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    #[test]
    fn a_window_is_open_on_its_days_and_hours_in_its_time_zone() {
        let window = office_hours();
        assert!(window.is_open(utc(4, 8, 0)), "Fri 09:00 in Berlin");
        assert!(!window.is_open(utc(4, 7, 59)), "Fri 08:59 in Berlin");
        assert!(!window.is_open(utc(4, 16, 0)), "Fri 17:00 in Berlin");
        assert!(!window.is_open(utc(5, 10, 0)), "Saturday");
        assert_eq!(window.describe(), "Mon–Fri 09:00–17:00 Europe/Berlin");
    }

    #[test]
    fn the_next_opening_after_friday_evening_is_monday_morning() {
        let window = office_hours();
        assert_eq!(window.next_open(utc(4, 16, 30)), Some(utc(7, 8, 0)));
    }

    #[test]
    fn bad_windows_name_their_field() {
        let mut window = office_hours();
        window.days.clear();
        window.start_hour = 17;
        window.end_hour = 9;
        window.time_zone = "Mars/Olympus".into();
        let mut errors = FieldErrors::default();
        check_deploy_window(&window, &mut errors);
        for field in [
            "deployWindow.days",
            "deployWindow.hours",
            "deployWindow.timeZone",
        ] {
            assert!(errors.has(field), "{field}");
        }
    }
}
