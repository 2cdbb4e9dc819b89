//! The optional timeline recorder: spans on (chip, unit) tracks, written in the Chrome trace
//! event format so that a run opens directly in Perfetto (ui.perfetto.dev) or chrome://tracing.

use super::error::EngineError;
use super::time::{Clock, Cycle};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// A timeline row: one unit of one chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackId(u32);

/// Something a unit spent time on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The row it is drawn on.
    pub track: TrackId,
    /// What the unit was doing.
    pub name: Cow<'static, str>,
    /// When it began [cycles].
    pub start: Cycle,
    /// How long it lasted [cycles].
    pub duration: u64,
}

#[derive(Clone, Debug)]
struct Track {
    chip: u32,
    unit: String,
}

/// Recorded spans and the tracks they belong to, in recording order (which a deterministic
/// simulation makes deterministic too).
#[derive(Clone, Debug)]
pub struct Trace {
    clock: Clock,
    chips: Vec<String>,
    tracks: Vec<Track>,
    spans: Vec<Span>,
    /// Chip name → chip index, so that a wafer's worth of tracks is found in log time.
    chip_index: BTreeMap<String, u32>,
    /// (chip index, unit name) → track.
    track_index: BTreeMap<(u32, String), TrackId>,
}

#[derive(Serialize)]
struct NameArgs<'a> {
    name: &'a str,
}

/// A `ph: "M"` event naming a process (chip) or thread (unit).
#[derive(Serialize)]
struct Metadata<'a> {
    name: &'static str,
    ph: &'static str,
    pid: u32,
    tid: u32,
    args: NameArgs<'a>,
}

/// A `ph: "X"` complete event [µs].
#[derive(Serialize)]
struct Complete<'a> {
    name: &'a str,
    ph: &'static str,
    ts: f64,
    dur: f64,
    pid: u32,
    tid: u32,
}

impl Trace {
    /// An empty trace whose cycles are converted to µs with `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            chips: Vec::new(),
            tracks: Vec::new(),
            spans: Vec::new(),
            chip_index: BTreeMap::new(),
            track_index: BTreeMap::new(),
        }
    }

    /// The track of `unit` on `chip`, created on first use; chips and units keep the order in
    /// which they were first named.
    pub fn track(&mut self, chip: &str, unit: &str) -> TrackId {
        let chip = match self.chip_index.get(chip) {
            Some(&i) => i,
            None => {
                let i = self.chips.len() as u32;
                self.chips.push(chip.to_owned());
                self.chip_index.insert(chip.to_owned(), i);
                i
            }
        };
        let key = (chip, unit.to_owned());
        if let Some(&track) = self.track_index.get(&key) {
            return track;
        }
        let track = TrackId(self.tracks.len() as u32);
        self.tracks.push(Track {
            chip,
            unit: key.1.clone(),
        });
        self.track_index.insert(key, track);
        track
    }

    /// Record that `track` spent `duration` [cycles] from `start` on `name`.
    pub fn span(
        &mut self,
        track: TrackId,
        name: impl Into<Cow<'static, str>>,
        start: Cycle,
        duration: u64,
    ) -> Result<(), EngineError> {
        if track.0 as usize >= self.tracks.len() {
            return Err(EngineError::UnknownTrack(track.0));
        }
        self.spans.push(Span {
            track,
            name: name.into(),
            start,
            duration,
        });
        Ok(())
    }

    /// The spans recorded so far.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Write `{"traceEvents":[...]}`: one process per chip (pid = chip order + 1), one thread per
    /// unit (tid = track order + 1), their names as metadata events, then every span as a
    /// complete event with `ts` and `dur` in µs of this trace's clock.
    pub fn write_chrome_json(&self, out: impl Write) -> io::Result<()> {
        let mut out = io::BufWriter::new(out);
        out.write_all(b"{\"traceEvents\":[")?;
        let mut first = true;
        for (i, chip) in self.chips.iter().enumerate() {
            let meta = Metadata {
                name: "process_name",
                ph: "M",
                pid: i as u32 + 1,
                tid: 0,
                args: NameArgs { name: chip },
            };
            write_item(&mut out, &mut first, &meta)?;
        }
        for (i, track) in self.tracks.iter().enumerate() {
            let meta = Metadata {
                name: "thread_name",
                ph: "M",
                pid: track.chip + 1,
                tid: i as u32 + 1,
                args: NameArgs { name: &track.unit },
            };
            write_item(&mut out, &mut first, &meta)?;
        }
        for span in &self.spans {
            // `span()` only admits tracks of this trace.
            let track = &self.tracks[span.track.0 as usize];
            let event = Complete {
                name: &span.name,
                ph: "X",
                ts: self.clock.micros(span.start.0),
                dur: self.clock.micros(span.duration),
                pid: track.chip + 1,
                tid: span.track.0 + 1,
            };
            write_item(&mut out, &mut first, &event)?;
        }
        out.write_all(b"]}\n")?;
        out.flush()
    }
}

/// One array element, preceded by a separator unless it is the first.
fn write_item(out: &mut impl Write, first: &mut bool, value: &impl Serialize) -> io::Result<()> {
    if !*first {
        out.write_all(b",\n")?;
    }
    *first = false;
    serde_json::to_writer(&mut *out, value)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn chrome_json_is_valid_with_one_track_per_chip_and_unit() {
        let mut trace = Trace::new(Clock::new(900_000_000).unwrap());
        let mxm = trace.track("tsp0", "mxm");
        let vxm = trace.track("tsp0", "vxm");
        let pe = trace.track("wse", "pe(0,0)");
        assert_eq!(trace.track("tsp0", "mxm"), mxm);
        trace.span(mxm, "matmul \"q\"", Cycle(900), 1800).unwrap();
        trace
            .span(vxm, String::from("softmax"), Cycle(0), 9)
            .unwrap();
        trace.span(pe, "hop", Cycle(9), 1).unwrap();
        assert_eq!(
            trace.span(TrackId(3), "x", Cycle(0), 1),
            Err(EngineError::UnknownTrack(3))
        );

        let mut bytes = Vec::new();
        trace.write_chrome_json(&mut bytes).unwrap();
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        let events = json["traceEvents"].as_array().unwrap();
        let named = |kind: &str| -> Vec<(u64, u64, String)> {
            events
                .iter()
                .filter(|e| e["name"] == kind)
                .map(|e| {
                    let name = e["args"]["name"].as_str().unwrap().to_owned();
                    (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap(), name)
                })
                .collect()
        };
        assert_eq!(
            named("process_name"),
            [(1, 0, "tsp0".into()), (2, 0, "wse".into())]
        );
        assert_eq!(
            named("thread_name"),
            [
                (1, 1, "mxm".into()),
                (1, 2, "vxm".into()),
                (2, 3, "pe(0,0)".into())
            ]
        );
        let spans: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0]["name"], "matmul \"q\"");
        assert_eq!(spans[0]["ts"].as_f64(), Some(1.0));
        assert_eq!(spans[0]["dur"].as_f64(), Some(2.0));
        assert_eq!(
            (spans[2]["pid"].as_u64(), spans[2]["tid"].as_u64()),
            (Some(2), Some(3))
        );
    }
}
