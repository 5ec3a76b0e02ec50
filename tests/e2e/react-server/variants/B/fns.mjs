// Which server function each interaction calls: B's renamed exports (new ids).
export { pingRenamed as buttonFn, submitJsFormRenamed as jsFormFn, submitHydratedRenamed as hydratedFn, submitNoJsRenamed as noJsFn } from "./actions.mjs";
