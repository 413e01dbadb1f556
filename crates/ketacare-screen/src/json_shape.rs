//! A cheap check that a line holds one whole JSON object, for the lines the screen drops without
//! parsing them (resource types it does not read, Observations that are not PHQ-9 totals). It catches
//! truncated lines and lines glued together at about an eighth of the cost of a parse; it does not
//! check scalars, commas or colons (a parse does that for the lines the screen reads).

/// Whether `line` is one complete JSON object: `{ … }` whose opening brace is closed by the line's
/// last non-blank byte, with strings closed. Most lines are settled by counting bytes (vector-friendly,
/// about eight times the speed of a parse): as many `{` and `[` as `}` and `]`, and no `}{` (two objects
/// glued together). A line whose counts say otherwise, which may only hold such bytes inside strings,
/// is settled by the exact scan, so a whole object is never refused. What the count lets through: a
/// truncated line whose strings hold more closing than opening brackets, and objects glued with a
/// blank between them.
pub fn is_one_json_object(line: &[u8]) -> bool {
    let Some(object) = trimmed_object(line) else { return false };
    let counts = ByteCounts::of(object);
    (counts.openers == counts.closers && !counts.glued) || closes_once_at_its_end(object)
}

/// The line without surrounding blanks, when it starts with `{` and ends with `}`.
fn trimmed_object(line: &[u8]) -> Option<&[u8]> {
    let first = line.iter().position(|byte| !byte.is_ascii_whitespace())?;
    let last = line.iter().rposition(|byte| !byte.is_ascii_whitespace())?;
    (line[first] == b'{' && line[last] == b'}').then(|| &line[first..=last])
}

/// Counters per step: one per lane, each lane counting four bytes a step (bytes `i`, `i + 16`, `i + 32`
/// and `i + 48` of the step's block). Sixteen lanes of three counters fit the SSE2 registers without
/// spilling (32 lanes spilled a counter to the stack on every step and ran at two thirds of the speed).
const LANES: usize = 16;
const STEP_BYTES: usize = 4 * LANES;
/// A lane's `u8` counter can take this many steps before it could overflow: the lanes are then added up.
const STEPS_PER_RUN: usize = 255 / 4;

/// The bytes of a line that bear on its shape, strings included.
#[derive(Debug, Default, PartialEq, Eq)]
struct ByteCounts {
    /// `{` and `[`.
    openers: u64,
    /// `}` and `]`.
    closers: u64,
    /// Some `}` is directly followed by `{`.
    glued: bool,
}

impl ByteCounts {
    fn of(bytes: &[u8]) -> ByteCounts {
        let mut counts = ByteCounts::default();
        let mut at = 0;
        loop {
            let mut lanes = LaneCounters::default();
            let run_end = (at + STEP_BYTES * STEPS_PER_RUN).min(bytes.len());
            // Each step also reads the byte after its block, to see `}{` across steps.
            while at + STEP_BYTES < run_end {
                let step: &[u8; STEP_BYTES + 1] = bytes[at..=at + STEP_BYTES].try_into().expect("a whole step");
                lanes.count(step);
                at += STEP_BYTES;
            }
            let last_run = run_end == bytes.len();
            if last_run {
                // The last bytes, padded with blanks (which count for nothing).
                let mut padded = [b' '; STEP_BYTES + 1];
                padded[..bytes.len() - at].copy_from_slice(&bytes[at..]);
                lanes.count(&padded);
            }
            counts.openers += sum_of_lanes(&lanes.openers);
            counts.closers += sum_of_lanes(&lanes.closers);
            counts.glued |= lanes.glued.iter().any(|&glued| glued != 0);
            if last_run {
                return counts;
            }
        }
    }
}

/// One run's counters, one per lane.
#[derive(Default)]
struct LaneCounters {
    openers: [u8; LANES],
    closers: [u8; LANES],
    glued: [u8; LANES],
}

impl LaneCounters {
    /// Counts the first `STEP_BYTES` bytes of `step` (the last one is only looked at for `}{`).
    ///
    /// Plain loops over fixed-size arrays, which the compiler turns into vector compares and adds (the
    /// workspace forbids `unsafe`, so no intrinsics). The shape is fragile: without the `glued` counter
    /// the compiler widened the lane sums and ran ten times slower. `bench/screen.sh` shows a slip.
    #[inline(always)]
    fn count(&mut self, step: &[u8; STEP_BYTES + 1]) {
        for quarter in [0, LANES, 2 * LANES, 3 * LANES] {
            let block: &[u8; LANES] = step[quarter..quarter + LANES].try_into().expect("a quarter step");
            let next: &[u8; LANES] = step[quarter + 1..quarter + 1 + LANES].try_into().expect("a quarter step");
            for lane in 0..LANES {
                // `{` is 0x7B and `[` 0x5B, `}` 0x7D and `]` 0x5D: setting bit 5 folds each pair together.
                let folded = block[lane] | 0x20;
                self.openers[lane] += u8::from(folded == b'{');
                self.closers[lane] += u8::from(folded == b'}');
                self.glued[lane] |= u8::from(block[lane] == b'}') & u8::from(next[lane] == b'{');
            }
        }
    }
}

/// The sum of the lanes, eight at a time in a `u64` (faster than one by one).
fn sum_of_lanes(lanes: &[u8; LANES]) -> u64 {
    let mut total = 0;
    for word in lanes.chunks_exact(8) {
        let word = u64::from_le_bytes(word.try_into().expect("eight lanes"));
        // Four sums of two lanes (each at most 510), then the four added up in the top 16 bits.
        let pairs = (word & 0x00FF_00FF_00FF_00FF) + ((word >> 8) & 0x00FF_00FF_00FF_00FF);
        total += pairs.wrapping_mul(0x0001_0001_0001_0001) >> 48;
    }
    total
}

/// The exact scan of `{ … }`: the depth of braces and brackets outside strings (escapes followed)
/// first returns to zero at the last byte.
fn closes_once_at_its_end(object: &[u8]) -> bool {
    let mut depth = 0u32;
    let mut in_string = false;
    let mut escaped = false;
    for (index, &byte) in object.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                // The first byte is `{`, so the depth is at least one here.
                depth -= 1;
                if depth == 0 {
                    return index == object.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact scan alone.
    fn is_one_json_object_by_the_exact_scan(line: &[u8]) -> bool {
        trimmed_object(line).is_some_and(closes_once_at_its_end)
    }

    type Check = (&'static str, fn(&[u8]) -> bool);
    const FAST: Check = ("is_one_json_object", is_one_json_object);
    const EXACT: Check = ("exact scan", is_one_json_object_by_the_exact_scan);

    /// Records a failure when a check's verdict on `line` is not `expected`.
    fn check((name, check): Check, line: &str, expected: bool, failures: &mut Vec<String>) {
        let got = check(line.as_bytes());
        if got != expected {
            failures.push(format!("{name} {line:?}: got {got}, expected {expected}"));
        }
    }

    fn check_both(line: &str, expected: bool, failures: &mut Vec<String>) {
        check(FAST, line, expected, failures);
        check(EXACT, line, expected, failures);
    }

    #[test]
    fn whole_objects_pass_and_damaged_lines_fail() {
        let long_text = "x".repeat(9_000); // longer than one run of lane counters
        let long_object = format!(r#"{{"resourceType":"Encounter","text":"{long_text}","a":[{{"b":"}}"}}]}}"#);
        let cases: Vec<(String, bool)> = vec![
            ("{}".into(), true),
            (r#"  {"a":1}  "#.into(), true),
            ("{\"a\":1}\r".into(), true),
            (r#"{"a":"}"}"#.into(), true),
            (r#"{"a":"}{"}"#.into(), true),
            (r#"{"a":"\"}"}"#.into(), true),
            (r#"{"a":"\\"}"#.into(), true),
            (r#"{"a":"\\\"{"}"#.into(), true),
            (r#"{"a":[1,[2,{"b":[]}]]}"#.into(), true),
            (r#"{"a":[{"b":1},{"c":2}]}"#.into(), true),
            (long_object.clone(), true),
            (String::new(), false),
            ("   ".into(), false),
            ("[1]".into(), false),
            (r#""text""#.into(), false),
            (r#"{"a":1"#.into(), false),
            (r#"{"a":{"b":1}"#.into(), false),
            (r#"{"a":"x"#.into(), false),
            (r#"{"a":"\"x"#.into(), false),
            (r#"{"a":1}}"#.into(), false),
            (r#"{"a":1]}"#.into(), false),
            (r#"{"a":1}{"b":2}"#.into(), false),
            (r#"{"a":{"b":1}}{"c":{}}"#.into(), false),
            (long_object[..long_object.len() - 1].into(), false),
            (format!("{}}}", &long_object[..long_object.len() - 3]), false),
            (format!("{long_object}{long_object}"), false),
        ];
        let mut failures = Vec::new();
        for (line, expected) in &cases {
            check_both(line, *expected, &mut failures);
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    /// What the byte count lets through, pinned so that a change is noticed (docs/screening.md says
    /// so): a truncated line whose strings hold more closing brackets than opening ones, and objects
    /// glued with a blank between them; the exact scan catches both. Neither matches brackets by kind.
    #[test]
    fn the_limits_of_the_count() {
        let mut failures = Vec::new();
        for let_through in [
            r#"{"a":{"text":"}"}"#, // cut after `}"}` of `{"a":{"text":"}"}}`
            r#"{"a":"}"#,           // cut inside a string, behind a `}`
            r#"{"a":1} {"b":2}"#,
        ] {
            check(FAST, let_through, true, &mut failures);
            check(EXACT, let_through, false, &mut failures);
        }
        check_both(r#"{"a":[1}}"#, true, &mut failures);
        assert!(failures.is_empty(), "{failures:#?}");
    }

    /// Every cut of realistic lines, at every byte, shifted against the counting lanes, fails; so does
    /// every pair of them glued together.
    #[test]
    fn every_truncation_and_gluing_fails() {
        let lines = [
            r#"{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6","display":"Systolic \"BP\" {x} [y] \\"}]},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":120,"unit":"mm[Hg]"}}"#,
            r#"{"resourceType":"Encounter","id":"e\\","period":{"start":"2020-01-01","end":"2020-01-02"},"reasonCode":[{"text":"{{[[x]]}}"}],"x":[[[[]]]]}"#,
        ];
        let mut failures = Vec::new();
        for line in lines {
            for shift in 0..=STEP_BYTES {
                let shifted = format!("{}{line}", " ".repeat(shift));
                check_both(&shifted, true, &mut failures);
                for cut in shift + 1..shifted.len() {
                    check_both(&shifted[..cut], false, &mut failures);
                }
                for other in lines {
                    check_both(&format!("{shifted}{other}"), false, &mut failures);
                }
            }
        }
        assert!(failures.is_empty(), "{} failures, first: {:#?}", failures.len(), &failures[..failures.len().min(5)]);
    }

    #[test]
    fn byte_counts_agree_with_a_byte_loop() {
        let mut failures = Vec::new();
        let run = STEP_BYTES * STEPS_PER_RUN;
        for length in [0, 1, 2, 31, 32, 33, 34, run - 1, run, run + 1, 3 * run + 17] {
            for pattern in [&b"{[x}]\"\\"[..], b"{[x]\"\\", b"ab}{cd"] {
                let bytes: Vec<u8> = (0..length).map(|index| pattern[index % pattern.len()]).collect();
                let expected = ByteCounts {
                    openers: bytes.iter().filter(|byte| matches!(byte, b'{' | b'[')).count() as u64,
                    closers: bytes.iter().filter(|byte| matches!(byte, b'}' | b']')).count() as u64,
                    glued: bytes.windows(2).any(|pair| pair == b"}{"),
                };
                let got = ByteCounts::of(&bytes);
                if got != expected {
                    failures.push(format!("length {length}, pattern {pattern:?}: {got:?}, expected {expected:?}"));
                }
            }
        }
        // `}{` at every place across the lanes and the end of the block.
        for at in 0..3 * STEP_BYTES {
            let mut bytes = vec![b'x'; 3 * STEP_BYTES + 1];
            bytes[at..at + 2].copy_from_slice(b"}{");
            if !ByteCounts::of(&bytes).glued {
                failures.push(format!("`}}{{` at {at} not seen"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
