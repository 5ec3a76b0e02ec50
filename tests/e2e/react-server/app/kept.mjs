"use server";
// Unchanged in B: same path and export, so its id (<absolute path>#kept) is the same in both builds.
import { BUILD } from "./build-label.mjs";

export async function kept() {
  return `kept function served by build ${BUILD}`;
}
