// The button's action, under its build-A name.
export { ping as buttonAction } from './actions';
