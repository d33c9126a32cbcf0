export {
  AppError,
  type AppErrorOptions,
  ConfigError,
  InternalError,
  type InvalidParam,
  type ProblemCode,
  problemCatalogue,
  problemTypeUri,
} from './app-error.ts';
export { type ProblemDocument, toProblem } from './problem.ts';
