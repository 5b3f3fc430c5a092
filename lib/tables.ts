import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, StreamViewType, Table, TableClass, TableEncryption, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { tables, type KeyDefinition, type TableDefinition, type TableName } from './definitions.js';
import { mapRecord } from './records.js';

/** Props of `ParleyTables`. */
export interface ParleyTablesProps {
  /** Destroy every table with the stack, including those that hold user data. */
  readonly devStack: boolean;
}

const attribute = (key: KeyDefinition) => ({
  name: key.name,
  type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER,
});

/** Every DynamoDB table of `definitions.tables`: on-demand, encrypted, with point-in-time recovery. */
export class ParleyTables extends Construct {
  /** The tables by logical name. */
  readonly byName: Record<TableName, ITable>;

  constructor(scope: Construct, id: string, props: ParleyTablesProps) {
    super(scope, id);
    this.byName = mapRecord(tables as Record<TableName, TableDefinition>, (definition, name) => {
      const retain = definition.retainInProduction && !props.devStack;
      const table = new Table(this, name, {
        partitionKey: attribute(definition.partitionKey),
        sortKey: definition.sortKey && attribute(definition.sortKey),
        billingMode: BillingMode.PAY_PER_REQUEST,
        encryption: TableEncryption.AWS_MANAGED,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        timeToLiveAttribute: definition.timeToLiveAttribute,
        stream: definition.stream === undefined ? undefined : StreamViewType[definition.stream],
        tableClass: definition.tableClass === 'STANDARD_INFREQUENT_ACCESS' ? TableClass.STANDARD_INFREQUENT_ACCESS : TableClass.STANDARD,
        removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        // A retained table also refuses a manual delete until protection is turned off.
        deletionProtection: retain,
      });
      for (const index of definition.globalSecondaryIndexes ?? []) {
        table.addGlobalSecondaryIndex({
          indexName: index.indexName,
          partitionKey: attribute(index.partitionKey),
          sortKey: index.sortKey && attribute(index.sortKey),
        });
      }
      return table;
    });
  }
}
