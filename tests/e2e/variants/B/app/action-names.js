// The button's action, under its build-B name.
export { pingRenamed as buttonAction } from './actions';
