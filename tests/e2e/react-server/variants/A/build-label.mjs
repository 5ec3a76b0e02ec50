export const BUILD = "A";
