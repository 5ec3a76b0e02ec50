export const BUILD = "B";
