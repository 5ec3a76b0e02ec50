"use server";
// Build B's server functions: A's four, renamed (so their ids change); ../kept.mjs is the unchanged one.
import { BUILD } from "./build-label.mjs";
import { counts } from "./state.mjs";

export async function pingRenamed() {
  return `server function served by build ${BUILD}`;
}

export async function submitJsFormRenamed() {
  counts.jsForm += 1;
  return `JS form served by build ${BUILD}`;
}

export async function submitHydratedRenamed(previous, formData) {
  return `hydrated form served by build ${BUILD}`;
}

export async function submitNoJsRenamed() {
  counts.noJs += 1;
}
