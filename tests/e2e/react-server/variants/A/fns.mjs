// Which server function each interaction calls (B's file names B's renamed exports). The client
// components import them from here, so the ids are in the client chunks (createServerReference).
export { ping as buttonFn, submitJsForm as jsFormFn, submitHydrated as hydratedFn, submitNoJs as noJsFn } from "./actions.mjs";
