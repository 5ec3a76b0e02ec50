"use server";
// Build A's server functions. B renames every one of them (so their ids change); ../kept.mjs is the unchanged one.
import { BUILD } from "./build-label.mjs";
import { counts } from "./state.mjs";

export async function ping() {
  return `server function served by build ${BUILD}`;
}

export async function submitJsForm() {
  counts.jsForm += 1;
  return `JS form served by build ${BUILD}`;
}

export async function submitHydrated(previous, formData) {
  return `hydrated form served by build ${BUILD}`;
}

export async function submitNoJs() {
  counts.noJs += 1;
}
