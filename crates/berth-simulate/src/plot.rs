//! Draws a report: demand, replicas and nodes over time.
