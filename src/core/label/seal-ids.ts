// Names the seal's static page and its script share (kept apart so the script takes no code with them).

/** The element holding the bundle's files inside the page, as JSON. */
export const SEAL_DATA_ID = "seal-data";
