// Placeholder: being written. Exports the Lambda handler for the 'fanout' function.
export const handler = async (): Promise<unknown> => ({ statusCode: 500 });
