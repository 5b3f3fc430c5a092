// Placeholder: being written. Exports the Lambda handler for the 'connect' function.
export const handler = async (): Promise<unknown> => ({ statusCode: 500 });
