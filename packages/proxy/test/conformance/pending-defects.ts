/**
 * Conformance cases that fail because of a known defect being fixed on another branch: case name → the number
 * of the defect in its issue. They run as TODO (reported, not failing). A listed case that passes (fast path =
 * node:http path, and nginx agrees or the allow-list covers it) is STALE and fails the suite (unless
 * CONFORMANCE_STRICT=0): delete its entry. Issue #10's defects are all fixed, so the list is empty; keep it for
 * the next defect found before its fix lands.
 */
export const pendingDefects: Readonly<Record<string, number>> = {};
