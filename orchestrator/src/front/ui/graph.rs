//! A plan run's task graph as a picture: a layered layout (each step one layer below the
//! deepest step it waits for; steps ordered within a layer by the mean position of the steps
//! they wait for, a few sweeps down and up, so edges cross little), drawn as SVG by polyclaw —
//! no script, no layout library in the browser. Each step is a box coloured by its state, with
//! its id and tool; edges run from a step to the steps that wait for it.
//!
//! Pure: steps in, SVG text out. The dashboard serves it and redraws it as the run goes.

use std::collections::HashMap;
use std::fmt::Write as _;

/// Where a step stands, as the run report says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started yet.
    Waiting,
    /// In flight.
    Running,
    /// Done, with a result.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Not run (a dependency failed, or the run was cancelled).
    Skipped,
}

impl State {
    /// From a run report's step status (`pending`, `running`, `succeeded`, …).
    #[must_use]
    pub fn from_status(status: &str) -> Self {
        match status {
            "running" | "retrying" | "started" => Self::Running,
            "succeeded" | "done" | "ok" => Self::Succeeded,
            "failed" => Self::Failed,
            "skipped" | "cancelled" => Self::Skipped,
            _ => Self::Waiting,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// One step of the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The step's id.
    pub id: String,
    /// What it calls (the tool), shown under the id.
    pub tool: String,
    /// Where it stands.
    pub state: State,
    /// The ids of the steps it waits for.
    pub after: Vec<String>,
}

/// The picture's own style, so it reads the same in a page, a file viewer or a README.
const STYLE: &str = "<style>\
.plan-graph{font-family:system-ui,-apple-system,'Segoe UI',sans-serif}\
.step rect{stroke-width:1.5}\
.step .id{font-size:13px;font-weight:600;fill:#1d2330}\
.step .tool{font-size:11px;fill:#3a4354}\
.waiting rect{fill:#eef1f6;stroke:#b5bfcf}\
.running rect{fill:#dbeafe;stroke:#2563eb}\
.succeeded rect{fill:#dcfce7;stroke:#16a34a}\
.failed rect{fill:#fee2e2;stroke:#dc2626}\
.skipped rect{fill:#f3f4f6;stroke:#9ca3af;stroke-dasharray:4 3}\
.skipped text{fill:#6b7280}\
</style>";

const BOX_W: f64 = 168.0;
const BOX_H: f64 = 44.0;
const GAP_X: f64 = 28.0;
const GAP_Y: f64 = 56.0;
const MARGIN: f64 = 16.0;

/// Each step's layer (0 for steps that wait for nothing): one below the deepest step it
/// waits for. Dependencies on unknown ids are ignored; a cycle (which a validated plan never
/// has) is cut where it is found.
fn layers(steps: &[Step]) -> Vec<usize> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut layer: Vec<Option<usize>> = vec![None; steps.len()];
    fn visit(
        i: usize,
        steps: &[Step],
        index: &HashMap<&str, usize>,
        layer: &mut [Option<usize>],
        on_path: &mut Vec<bool>,
    ) -> usize {
        if let Some(l) = layer[i] {
            return l;
        }
        on_path[i] = true;
        let mut depth = 0;
        for dep in &steps[i].after {
            if let Some(&j) = index.get(dep.as_str())
                && !on_path[j]
            {
                depth = depth.max(visit(j, steps, index, layer, on_path) + 1);
            }
        }
        on_path[i] = false;
        layer[i] = Some(depth);
        depth
    }
    let mut on_path = vec![false; steps.len()];
    (0..steps.len())
        .map(|i| visit(i, steps, &index, &mut layer, &mut on_path))
        .collect()
}

/// Steps per layer, ordered to keep edges from crossing: barycenter sweeps.
fn ordered(steps: &[Step], layer: &[usize]) -> Vec<Vec<usize>> {
    let depth = layer.iter().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (i, &l) in layer.iter().enumerate() {
        rows[l].push(i);
    }
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let preds: Vec<Vec<usize>> = steps
        .iter()
        .map(|s| {
            s.after
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, p) in preds.iter().enumerate() {
        for &j in p {
            succs[j].push(i);
        }
    }
    let mut position = vec![0.0_f64; steps.len()];
    let place = |rows: &[Vec<usize>], position: &mut [f64]| {
        for row in rows {
            for (k, &i) in row.iter().enumerate() {
                position[i] = k as f64;
            }
        }
    };
    place(&rows, &mut position);
    for sweep in 0..4 {
        let down = sweep % 2 == 0;
        let order: Vec<usize> = if down {
            (1..rows.len()).collect()
        } else {
            (0..rows.len().saturating_sub(1)).rev().collect()
        };
        for r in order {
            let neighbours = if down { &preds } else { &succs };
            let mut keyed: Vec<(f64, usize)> = rows[r]
                .iter()
                .map(|&i| {
                    let n = &neighbours[i];
                    let key = if n.is_empty() {
                        position[i]
                    } else {
                        n.iter().map(|&j| position[j]).sum::<f64>() / n.len() as f64
                    };
                    (key, i)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            rows[r] = keyed.into_iter().map(|(_, i)| i).collect();
            place(&rows, &mut position);
        }
    }
    rows
}

/// Text safe inside SVG (XML) text and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The run's graph as an SVG document (its size follows the graph).
#[must_use]
pub fn svg(steps: &[Step]) -> String {
    let layer = layers(steps);
    let rows = ordered(steps, &layer);
    let widest = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let width = MARGIN * 2.0 + widest as f64 * BOX_W + (widest - 1) as f64 * GAP_X;
    let height = MARGIN * 2.0
        + rows.len().max(1) as f64 * BOX_H
        + rows.len().saturating_sub(1) as f64 * GAP_Y;
    // Each step's box: rows centred in the width.
    let mut at: Vec<(f64, f64)> = vec![(0.0, 0.0); steps.len()];
    for (r, row) in rows.iter().enumerate() {
        let row_width = row.len() as f64 * BOX_W + row.len().saturating_sub(1) as f64 * GAP_X;
        let x0 = (width - row_width) / 2.0;
        for (k, &i) in row.iter().enumerate() {
            at[i] = (
                x0 + k as f64 * (BOX_W + GAP_X),
                MARGIN + r as f64 * (BOX_H + GAP_Y),
            );
        }
    }
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="plan-graph" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="plan graph, {} steps">"##,
        steps.len()
    );
    out.push_str(STYLE);
    out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#7a8599"/></marker></defs>"##);
    for (i, step) in steps.iter().enumerate() {
        for dep in &step.after {
            let Some(&j) = index.get(dep.as_str()) else {
                continue;
            };
            let (x1, y1) = (at[j].0 + BOX_W / 2.0, at[j].1 + BOX_H);
            let (x2, y2) = (at[i].0 + BOX_W / 2.0, at[i].1);
            let mid = (y1 + y2) / 2.0;
            let _ = write!(
                out,
                r##"<path class="edge" d="M {x1:.1} {y1:.1} C {x1:.1} {mid:.1}, {x2:.1} {mid:.1}, {x2:.1} {y2:.1}" fill="none" stroke="#7a8599" stroke-width="1.5" marker-end="url(#arrow)"/>"##
            );
        }
    }
    for (i, step) in steps.iter().enumerate() {
        let (x, y) = at[i];
        let _ = write!(
            out,
            r##"<g class="step {state}" data-step="{id}"><title>{id}: {tool} ({state})</title><rect x="{x:.1}" y="{y:.1}" width="{BOX_W}" height="{BOX_H}" rx="8"/><text x="{tx:.1}" y="{ty1:.1}" class="id">{short_id}</text><text x="{tx:.1}" y="{ty2:.1}" class="tool">{short_tool}</text></g>"##,
            state = step.state.class(),
            id = escape(&step.id),
            tool = escape(&step.tool),
            tx = x + 10.0,
            ty1 = y + 18.0,
            ty2 = y + 35.0,
            short_id = escape(&cut(&step.id, 22)),
            short_tool = escape(&cut(&step.tool, 24)),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::{State, Step, layers, ordered, svg};

    fn step(id: &str, after: &[&str]) -> Step {
        Step {
            id: id.into(),
            tool: format!("echo__{id}"),
            state: State::Waiting,
            after: after.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    #[test]
    fn each_step_sits_one_layer_below_its_deepest_dependency() {
        let steps = [
            step("a", &[]),
            step("b", &["a"]),
            step("c", &["a"]),
            step("d", &["b", "c"]),
            step("e", &["a", "d"]),
            step("lone", &[]),
            step("ghost", &["nowhere"]),
        ];
        assert_eq!(layers(&steps), [0, 1, 1, 2, 3, 0, 0]);
    }

    #[test]
    fn a_cycle_is_cut_instead_of_looping() {
        let steps = [step("a", &["b"]), step("b", &["a"])];
        let l = layers(&steps);
        assert_eq!(l.len(), 2);
        assert!(l.iter().all(|&x| x <= 1));
    }

    #[test]
    fn ordering_undoes_a_crossing() {
        // Layer 1 lists x before y, but x waits for b (right) and y for a (left).
        let steps = [
            step("a", &[]),
            step("b", &[]),
            step("x", &["b"]),
            step("y", &["a"]),
        ];
        let rows = ordered(&steps, &layers(&steps));
        let names: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| r.iter().map(|&i| steps[i].id.as_str()).collect())
            .collect();
        let pos = |n: &str, row: &[&str]| row.iter().position(|x| *x == n);
        assert_eq!(
            pos("a", &names[0]) < pos("b", &names[0]),
            pos("y", &names[1]) < pos("x", &names[1]),
            "edges a→y and b→x do not cross: {names:?}"
        );
    }

    #[test]
    fn the_picture_has_a_box_per_step_an_edge_per_dependency_and_escapes_text() {
        let mut steps = vec![
            step("a", &[]),
            step("b<&>", &["a"]),
            step("c", &["a", "b<&>"]),
        ];
        steps[0].state = State::Succeeded;
        steps[1].state = State::Running;
        steps[2].state = State::from_status("failed");
        let picture = svg(&steps);
        assert!(picture.starts_with("<svg") && picture.ends_with("</svg>"));
        assert_eq!(picture.matches("<g class=\"step").count(), 3);
        assert_eq!(picture.matches("class=\"edge\"").count(), 3);
        assert!(picture.contains("step succeeded") && picture.contains("step running"));
        assert!(picture.contains("step failed"));
        assert!(picture.contains("b&lt;&amp;&gt;") && !picture.contains("b<&>"));
        assert!(
            svg(&[]).starts_with("<svg"),
            "an empty plan is an empty picture"
        );
    }
}
