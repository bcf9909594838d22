export const EXIT_OK = 0;
/** Runtime failure: the command was right but something failed. */
export const EXIT_FAILURE = 1;
/** Bad usage or bad configuration. */
export const EXIT_USAGE = 2;
