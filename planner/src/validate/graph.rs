//! The dependency graph of a plan: cycles and a topological order.
//!
//! Node `i` is `plan.steps[i]`; an edge `a → b` means `a` must succeed before `b` runs (`b`
//! depends on `a`, explicitly or through a binding). Pure graph work: no knowledge of tools.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

/// Why one step waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    /// Listed in `depends_on`.
    DependsOn,
    /// Its result is bound in `args`.
    Binding,
    /// Both.
    Both,
}

/// Adds `from → to`, merging with an existing edge's kind.
pub(crate) fn add_edge(graph: &mut DiGraph<String, Edge>, from: usize, to: usize, kind: Edge) {
    let (a, b) = (NodeIndex::new(from), NodeIndex::new(to));
    if let Some(e) = graph.find_edge(a, b) {
        if let Some(w) = graph.edge_weight_mut(e)
            && *w != kind
        {
            *w = Edge::Both;
        }
    } else {
        graph.add_edge(a, b, kind);
    }
}

/// Every dependency cycle, each as the list of its nodes in dependency order starting from its
/// lowest index: `[a, b, c]` means `a` depends on `b`, `b` on `c`, `c` on `a`.
pub(crate) fn cycles(graph: &DiGraph<String, Edge>) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for scc in tarjan_scc(graph) {
        let Some(&start) = scc.iter().min() else {
            continue;
        };
        if scc.len() == 1 && graph.find_edge(start, start).is_none() {
            continue;
        }
        out.push(cycle_through(graph, start, &scc));
    }
    out.sort();
    out
}

/// A shortest cycle through `start` inside `scc`, walking from dependent to dependency.
fn cycle_through(graph: &DiGraph<String, Edge>, start: NodeIndex, scc: &[NodeIndex]) -> Vec<usize> {
    let mut previous: Vec<Option<NodeIndex>> = vec![None; graph.node_count()];
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let mut deps: Vec<NodeIndex> = graph
            .neighbors_directed(node, Direction::Incoming)
            .filter(|n| scc.contains(n))
            .collect();
        deps.sort();
        for dep in deps {
            if dep == start {
                let mut path = vec![node.index()];
                let mut at = node;
                while let Some(p) = previous[at.index()] {
                    path.push(p.index());
                    at = p;
                }
                path.reverse();
                return path;
            }
            if previous[dep.index()].is_none() && dep != start {
                previous[dep.index()] = Some(node);
                queue.push_back(dep);
            }
        }
    }
    vec![start.index()]
}

/// A topological order (dependencies first), taking the earliest step in plan order whenever
/// several are free; `None` if there is a cycle.
pub(crate) fn topological(graph: &DiGraph<String, Edge>) -> Option<Vec<usize>> {
    let n = graph.node_count();
    let mut indegree: Vec<usize> = (0..n)
        .map(|i| {
            graph
                .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                .count()
        })
        .collect();
    let mut free: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = free.pop() {
        order.push(i);
        for next in graph.neighbors_directed(NodeIndex::new(i), Direction::Outgoing) {
            let d = &mut indegree[next.index()];
            *d -= 1;
            if *d == 0 {
                free.push(Reverse(next.index()));
            }
        }
    }
    (order.len() == n).then_some(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(usize, usize)]) -> DiGraph<String, Edge> {
        let mut g = DiGraph::new();
        for i in 0..n {
            g.add_node(format!("s{i}"));
        }
        for &(a, b) in edges {
            add_edge(&mut g, a, b, Edge::DependsOn);
        }
        g
    }

    #[test]
    fn orders_by_dependencies_then_plan_order() {
        let g = graph(4, &[(3, 1), (3, 2), (1, 0), (2, 0)]);
        assert_eq!(topological(&g), Some(vec![3, 1, 2, 0]));
        assert!(cycles(&g).is_empty());
    }

    #[test]
    fn finds_cycles() {
        // 0 depends on 2, 2 depends on 1, 1 depends on 0; 3 depends on itself.
        let g = graph(5, &[(2, 0), (1, 2), (0, 1), (3, 3), (0, 4)]);
        assert_eq!(topological(&g), None);
        assert_eq!(cycles(&g), vec![vec![0, 2, 1], vec![3]]);
    }

    #[test]
    fn merges_edge_kinds() {
        let mut g = graph(2, &[(0, 1)]);
        add_edge(&mut g, 0, 1, Edge::Binding);
        assert_eq!(g.edge_count(), 1);
        assert_eq!(g.edge_weights().next(), Some(&Edge::Both));
    }
}
